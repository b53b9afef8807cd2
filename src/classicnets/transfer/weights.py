"""Published weights for the zoo's models, mapped key for key, with the preprocessing they expect.

Three formats, told apart by their first bytes:
- safetensors: the zoo's own names (a classicnets run's `model.safetensors`, or its run directory);
  the run's normalisation comes with it (model.json).
- PyTorch `.pth` state dicts, read with `torch.load(weights_only=True)` (never unpickled otherwise):
  torchvision's ImageNet weights for alexnet, vgg*, resnet18-152, densenet121/169/201 and googlenet,
  renamed by `TORCHVISION_NAMES` (e.g. resnet's `layer1.0.downsample.0` is the zoo's
  `conv2.0.shortcut.0`); a `.pth` already in the zoo's names loads as it is. Preprocessing: ImageNet's
  per-channel mean and std on [0, 1]; GoogLeNet's weights were trained behind torchvision's
  `transform_input`, which turns that back into x * 2 - 1, so theirs is mean 0.5, std 0.5.
- Keras weight files (transfer/keras.py): Keras 2 HDF5 files (what `save_weights('x.h5')` and
  `model.save('x.h5')` write, and the published application weights such as `mobilenet_1_0_224_tf.h5`),
  Keras 3 `x.weights.h5` files and `.keras` archives, for the zoo models with a Keras counterpart
  (MobileNet, VGG16/19, ResNet50/101/152 as `resnet*_keras`, DenseNet121/169/201, the course's own
  Keras models), with each application's preprocessing (MobileNet `x / 127.5 - 1`).

The format is told by content: an HDF5 signature (Keras), a zip holding config.json and
model.weights.h5 (a .keras archive) or another zip (torch.save), the legacy torch pickle's first
bytes; a `.safetensors` name, or a safetensors header, is read as safetensors (a damaged one is
refused as damaged, not tried as something else).

`load_pretrained` checks everything before it assigns anything: the model's base must be in the file
with the same shapes, else `UserError` names the first tensor that differs; only the head (the
classifier, and GoogLeNet's auxiliary classifiers) may differ or be absent, and those tensors keep
their fresh initialisation and are listed in the `LoadReport`.

`find_weights("imagenet", model_name=...)` finds the published file in `$CLASSICNETS_WEIGHTS`, in the
cache (`$CLASSICNETS_DATA/weights`) or downloads it. torchvision's file names end in the first hex
digits of the file's SHA-256, which torchvision checks and so do we; Keras publishes no checksum for
its MobileNet files, so those are checked by loading them (every shape against the model's).
"""
from __future__ import annotations

import os
import re
import struct
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.core import Normalization
from ..errors import UserError
from .heads import HEAD_CHILDREN, head_names
from .keras import HALF_NORMALIZATION, IMAGENET_NORMALIZATION

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# ---------------------------------------------------------------------------------------------
# The published files: torchvision's IMAGENET1K_V1 weights (resnet50/101/152's DEFAULT is a later
# V2 recipe; V1 is the one every model here shares: resize 256, crop 224) and Keras's MobileNets.

TORCHVISION_URL = "https://download.pytorch.org/models/"
TORCHVISION_FILES = {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vgg11": "vgg11-8a719046.pth", "vgg11_bn": "vgg11_bn-6002323d.pth",
    "vgg13": "vgg13-19584684.pth", "vgg13_bn": "vgg13_bn-abd245e5.pth",
    "vgg16": "vgg16-397923af.pth", "vgg16_bn": "vgg16_bn-6c64b313.pth",
    "vgg19": "vgg19-dcbb9e9d.pth", "vgg19_bn": "vgg19_bn-c79401a0.pth",
    "resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth", "resnet101": "resnet101-63fe2227.pth",
    "resnet152": "resnet152-394f9c45.pth",
    "densenet121": "densenet121-a639ec97.pth", "densenet169": "densenet169-b2777c0a.pth",
    "densenet201": "densenet201-c1103571.pth",
    "googlenet": "googlenet-1378be20.pth",
}
KERAS_MOBILENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
KERAS_RESNET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# Keras's ResNets (keras/src/applications/resnet.py, WEIGHTS_HASHES): MD5 of (with top, without top)
KERAS_RESNET_MD5 = {50: ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
                    101: ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
                    152: ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c")}
KERAS_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}  # as Keras spells them in file names
KERAS_ROWS = (128, 160, 192, 224)


@dataclass(frozen=True)
class PublishedFile:
    name: str
    url: str
    sha256_prefix: str  # torchvision's: the hex digits its file name carries; "" where none is published
    md5: str = ""       # Keras's, where it publishes one (its ResNets)


def imagenet_file(model_name: str, model_args: Mapping[str, Any] | None = None,
                  input_size: int | Sequence[int] | None = None) -> PublishedFile:
    """The published ImageNet weights of `model_name` (with the builder options `model_args`; for
    MobileNet `alpha` and `include_top` pick the file, and `input_size` (a side, or a (C, H, W)
    shape) the resolution it was trained at, as Keras does: 128, 160, 192 or 224 for square inputs
    of those sides, else 224)."""
    args = dict(model_args or {})
    if isinstance(input_size, Sequence):
        input_size = input_size[-1] if len(input_size) >= 2 and input_size[-1] == input_size[-2] else None
    if model_name in TORCHVISION_FILES:
        name = TORCHVISION_FILES[model_name]
        return PublishedFile(name, TORCHVISION_URL + name, re.search(r"-([0-9a-f]{8,})\.", name)[1])
    if model_name == "mobilenet":
        alpha = float(args.get("alpha") or 1.0)
        if alpha not in KERAS_ALPHAS:
            raise UserError(f"Keras publishes ImageNet MobileNets for alpha 1.0, 0.75, 0.5 and 0.25 only; got {alpha}")
        rows = input_size if input_size in KERAS_ROWS else 224
        top = "" if args.get("include_top", True) else "_no_top"
        name = f"mobilenet_{KERAS_ALPHAS[alpha]}_{rows}_tf{top}.h5"
        return PublishedFile(name, KERAS_MOBILENET_URL + name, "")
    depth = re.fullmatch(r"resnet(\d+)_keras", model_name)
    if depth and int(depth[1]) in KERAS_RESNET_MD5:
        top = bool(args.get("include_top", True))
        name = f"resnet{depth[1]}_weights_tf_dim_ordering_tf_kernels{'' if top else '_notop'}.h5"
        return PublishedFile(name, KERAS_RESNET_URL + name, "", KERAS_RESNET_MD5[int(depth[1])][0 if top else 1])
    keras = [f"resnet{d}_keras" for d in KERAS_RESNET_MD5]
    raise UserError(f"no published ImageNet weights for {model_name!r}; they exist for "
                    f"{', '.join(sorted([*TORCHVISION_FILES, 'mobilenet', *keras]))}")


def weights_folder() -> Path | None:
    folder = os.environ.get("CLASSICNETS_WEIGHTS")
    return Path(folder) if folder else None


def find_weights(name_or_path: str | os.PathLike, *, model_name: str | None = None,
                 model_args: Mapping[str, Any] | None = None,
                 input_size: int | Sequence[int] | None = None) -> Path:
    """The weights file (or classicnets run directory) meant by `name_or_path`: a path; else a file
    name in the folder `$CLASSICNETS_WEIGHTS`; or "imagenet": the published weights of `model_name`
    (see `imagenet_file`), from `$CLASSICNETS_WEIGHTS`, the cache `$CLASSICNETS_DATA/weights`, or
    downloaded there (not with `$CLASSICNETS_OFFLINE` set)."""
    text = str(name_or_path)
    folder = weights_folder()
    if text == "imagenet":
        if not model_name:
            raise UserError("--weights imagenet needs the model's name to pick its published weights")
        return _published(imagenet_file(model_name, model_args, input_size), folder)
    path = Path(text).expanduser()
    if path.exists():
        return path
    if folder is not None and (folder / text).exists():
        return folder / text
    where = f"nor in $CLASSICNETS_WEIGHTS ({folder})" if folder else "and $CLASSICNETS_WEIGHTS names no folder to look in"
    raise UserError(f"weights {text!r} not found: no such file or run directory here, {where}; give a path, "
                    f"a file in $CLASSICNETS_WEIGHTS, or 'imagenet'")


def _sha256_ok(path: Path, f: PublishedFile) -> tuple[bool, str]:
    """Whether `path` is the published file: its SHA-256 prefix (torchvision) or MD5 (Keras's ResNets)."""
    from ..data.download import md5sum
    if f.md5:
        digest = md5sum(path, "md5")
        return digest == f.md5, digest
    if not f.sha256_prefix:
        return True, ""
    digest = md5sum(path, "sha256")
    return digest.startswith(f.sha256_prefix), digest


def _checksum(f: PublishedFile) -> tuple[str, str]:
    """('SHA-256', 'beginning f37072fd') or ('MD5', '2cb95161...'), for messages."""
    return ("MD5", f.md5) if f.md5 else ("SHA-256", f"beginning {f.sha256_prefix}")


def _published(f: PublishedFile, folder: Path | None) -> Path:
    from ..data.download import data_home, move_aside
    if folder is not None and (folder / f.name).is_file():
        given = folder / f.name
        ok, digest = _sha256_ok(given, f)
        if not ok:
            raise UserError(f"{given} is not the published {f.name}: its {_checksum(f)[0]} {digest[:16]}... is not "
                            f"the published {_checksum(f)[1]}; it is damaged or another file")
        return given
    cache = data_home() / "weights"
    path = cache / f.name
    moved = None
    if path.is_file():
        ok, digest = _sha256_ok(path, f)
        if ok:
            return path
        moved = move_aside(path, f"the cached {path} is not the published {f.name} (its {_checksum(f)[0]} is not "
                                 f"the published {_checksum(f)[1]})", digest)
    mirror = os.environ.get("CLASSICNETS_MIRROR")
    url = f"{mirror.rstrip('/')}/{f.name}" if mirror else f.url
    put = (f"put them in $CLASSICNETS_WEIGHTS ({folder})" if folder else
           "put them in a folder named by $CLASSICNETS_WEIGHTS")
    if os.environ.get("CLASSICNETS_OFFLINE"):
        raise UserError(f"the ImageNet weights {f.name} are not here and CLASSICNETS_OFFLINE is set; download "
                        f"them from {url} and {put}")
    import pooch
    import requests
    try:
        pooch.retrieve(url, known_hash=None, fname=f.name, path=cache, progressbar=False)
    except (requests.exceptions.RequestException, OSError) as e:
        reason = (f"HTTP {e.response.status_code}" if isinstance(e, requests.exceptions.HTTPError)
                  and e.response is not None else "no network?" if isinstance(e, requests.exceptions.ConnectionError)
                  else type(e).__name__)
        raise UserError(f"cannot download the ImageNet weights {f.name} from {url} ({reason}); download them "
                        f"yourself and {put}") from None
    ok, digest = _sha256_ok(path, f)
    if not ok:
        bad = move_aside(path, f"the download of {f.name} is not the published file", digest)
        raise UserError(f"the download of {f.name} from {url} does not match its published checksum ("
                        f"{_checksum(f)[0]} {_checksum(f)[1]}); it was moved to {bad}"
                        + (f" (an older damaged copy is {moved})" if moved else "") + "; try again")
    return path


# ---------------------------------------------------------------------------------------------
# Reading a file into {zoo name: tensor}.

@dataclass
class _Source:
    format: str                                 # "safetensors", "pytorch", "torchvision" or "keras"
    tensors: dict[str, torch.Tensor]            # in the zoo's names
    names: dict[str, str]                       # zoo name -> the name in the file, for messages
    preprocessing: Normalization | None = None


def _reason(e: BaseException, limit: int = 100) -> str:
    """What a library's error says, as our words can quote it: its first sentence, whole words only,
    without PyTorch's "internal error... report this" advice; the error's kind if it says nothing."""
    text = " ".join(str(e).split())
    first = text.split(". ")[0].rstrip(".") if text else ""
    if not first:
        return "it ends too early" if isinstance(e, EOFError) else type(e).__name__
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
    return first


def _format_of(path: Path) -> str:
    """'safetensors', 'pytorch', 'keras' (HDF5) or 'keras-archive' (.keras), told by content; a file named
    .safetensors is one (so a damaged one is called damaged, not read as a pickle whose first byte it shares)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as e:
        raise UserError(f"cannot read weights file {path}: {e.strerror or e}") from None
    if path.suffix == ".safetensors":
        return "safetensors"
    if head[:8] == HDF5_MAGIC:
        return "keras"
    if head[:4] == b"PK\x03\x04":  # a zip: torch.save's, or a Keras 3 archive
        import zipfile
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            return "pytorch"  # torch.load says what is wrong with it
        # a .keras archive holds config.json and model.weights.h5 (its reader says which one is missing)
        return "keras-archive" if {"config.json", "model.weights.h5"} & names else "pytorch"
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < path.stat().st_size:
        return "safetensors"
    if head[:2] == b"\x80\x02":  # torch.save's legacy format: a pickle (protocol 2) of its magic number
        return "pytorch"
    raise UserError(f"{path} is not a weights file this tool reads: safetensors, a PyTorch state dict (.pth), "
                    f"a Keras HDF5 file (.h5, .weights.h5) or a Keras archive (.keras)")


def _read_safetensors(path: Path) -> _Source:
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if "state" in meta:
                raise UserError(f"{path} is a training checkpoint (optimizer and all); load the run's "
                                f"model.safetensors, or the run directory")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise UserError(f"weights file {path} is damaged or truncated ({_reason(e)})") from None
    norm = None
    if (path.parent / "model.json").is_file():  # a classicnets run: the normalisation it trained with
        from ..record import read_card
        norm = read_card(path.parent).norm
    return _Source("safetensors", tensors, {k: k for k in tensors}, norm)


def _read_pytorch(path: Path, model_keys: set[str], model_name: str) -> _Source:
    import pickle

    try:
        with warnings.catch_warnings():  # what PyTorch says while reading a damaged file: the sentence below says it
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refuses anything but tensors and plain containers
        refused = re.search(r"GLOBAL ([\w.]+)", str(e))  # the Python object the pickle would have made
        if refused is None:  # no object refused: bytes that are not a pickle at all
            raise UserError(f"weights file {path} is damaged or truncated (not a PyTorch save)") from None
        raise UserError(f"{path} holds more than tensors (a Python object, {refused.group(1)}), which this tool "
                        f"never unpickles; save a state dict (model.state_dict())") from None
    except Exception as e:  # noqa: BLE001 - torch.load of changed bytes fails every way (RuntimeError, EOFError,
        # zipfile's, safetensors', IndexError, AssertionError...), and weights_only=True ran nothing of the file's
        raise UserError(f"weights file {path} is damaged or truncated ({_reason(e)})") from None
    for wrapper in ("state_dict", "model"):  # a training checkpoint that wraps its state dict
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UserError(f"{path} is not a state dict (a mapping of names to tensors)")
    obj = {k.removeprefix("module."): v for k, v in obj.items()}  # saved from nn.DataParallel
    rename = TORCHVISION_NAMES.get(_family(model_name))
    if rename is not None:
        renamed = {_rename(k, rename): k for k in obj}
        if len(renamed.keys() & model_keys) > len(obj.keys() & model_keys):  # torchvision's names, not the zoo's
            norm = HALF_NORMALIZATION if _family(model_name) == "googlenet" else IMAGENET_NORMALIZATION
            return _Source("torchvision", {z: obj[k] for z, k in renamed.items()}, renamed, norm)
    return _Source("pytorch", dict(obj), {k: k for k in obj})


def _family(model_name: str) -> str:
    from ..zoo import model_info
    return model_info(model_name).family


def _rename(key: str, rules: list[tuple[str, str | Callable[[re.Match], str]]]) -> str:
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key)
    return key


_DENSE_LAYER = {"norm1": 0, "conv1": 2, "norm2": 3, "conv2": 5}  # positions in DenseLayer.layers
_PARAM = r"(?=(?:weight|bias|running_mean|running_var|num_batches_tracked)$)"

# torchvision's state-dict names -> the zoo's, per family, applied in order (from torchvision's
# models/{alexnet,vgg,resnet,densenet,googlenet}.py; checked against its names in the tests)
TORCHVISION_NAMES: dict[str, list[tuple[str, str | Callable[[re.Match], str]]]] = {
    # the zoo's classifier starts with a Flatten: classifier.1 is torchvision's classifier.0 (vgg), .1 (alexnet)...
    "alexnet": [(r"^classifier\.(\d+)\.", lambda m: f"classifier.{int(m[1]) + 1}.")],
    "vgg": [(r"^classifier\.(\d+)\.", lambda m: f"classifier.{int(m[1]) + 1}.")],
    "resnet": [(r"^conv1\.", "stem.0."), (r"^bn1\.", "stem.1."),
               (r"^layer(\d)\.", lambda m: f"conv{int(m[1]) + 1}."),  # layer1..4 are the paper's conv2_x..conv5_x
               (r"\.downsample\.", ".shortcut."), (r"^fc\.", "head.2.")],
    "densenet": [
        # torchvision's own fix for its pre-0.3 checkpoints ('norm.1' -> 'norm1'), as in its _load_state_dict
        (r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$", r"\1\2"),
        (r"^features\.conv0\.", "stem.0."), (r"^features\.norm0\.", "stem.1."),
        (r"^features\.denseblock(\d+)\.denselayer(\d+)\.(norm1|conv1|norm2|conv2)\.",
         lambda m: f"features.{2 * (int(m[1]) - 1)}.{int(m[2]) - 1}.layers.{_DENSE_LAYER[m[3]]}."),
        (r"^features\.transition(\d+)\.(norm|conv)\.",
         lambda m: f"features.{2 * int(m[1]) - 1}.{0 if m[2] == 'norm' else 2}."),
        (r"^features\.norm5\.", "head.0."), (r"^classifier\.", "head.4.")],
    "googlenet": [  # BasicConv2d's conv and bn are the zoo's conv_bn_act 0 and 1
        (r"^conv1\.", "stem.0."), (r"^conv2\.", "stem.2."), (r"^conv3\.", "stem.3."),
        (r"^(aux\d)\.fc1\.", r"\1.fc.1."), (r"^(aux\d)\.fc2\.", r"\1.fc.4."), (r"^fc\.", "head.3."),
        (r"\.conv\." + _PARAM, ".0."), (r"\.bn\." + _PARAM, ".1.")],
}


def _read_keras(path: Path, model: nn.Module, model_name: str, kind: str,
                input_shape: Sequence[int] | None) -> _Source:
    from .keras import read_keras
    src = read_keras(path, model, model_name, hdf5=kind == "keras",
                     input_shape=tuple(input_shape) if input_shape else None)
    fmt = {"Keras 2": "keras", "Keras 3": "keras3", "Keras 3 archive": "keras-archive"}[src.format]
    return _Source(fmt, src.tensors, src.names, src.preprocessing)


# ---------------------------------------------------------------------------------------------
# Matching a file against the model.

@dataclass(frozen=True)
class LoadReport:
    """What `load_pretrained` did: which of the model's tensors came from the file, which of the
    file's were left out and why, which of the model's kept their fresh initialisation."""

    path: Path
    format: str                                    # safetensors, pytorch, torchvision, keras (Keras 2 HDF5), keras3 or keras-archive
    loaded: list[str] = field(default_factory=list)                # the model's tensors set from the file
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (the file's tensor, why it is not used)
    missing: list[str] = field(default_factory=list)               # the model's tensors left as initialised
    preprocessing: Normalization | None = None     # what the weights expect of inputs in [0, max_value]

    def summary(self) -> str:
        text = f"loaded {len(self.loaded)} tensors from {self.path.name} ({self.format})"
        if self.skipped:
            text += f"; not used: {', '.join(f'{k} ({why})' for k, why in self.skipped)}"
        if self.missing:
            text += f"; freshly initialised: {', '.join(self.missing)}"
        return text


def _head_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Name prefixes of the model's head: its classifier modules (as `transfer.heads` finds them) and
    GoogLeNet's auxiliary classifiers."""
    try:
        names = head_names(model)
    except UserError:  # a base without a head (include_top=False)
        names = []
    names += [n for n, _ in model.named_children() if n.startswith("aux")]
    return tuple(f"{n}." for n in names)


def _is_head(key: str, prefixes: tuple[str, ...]) -> bool:
    return key.startswith(prefixes) or key.split(".")[0] in HEAD_CHILDREN or key.startswith("aux")


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def load_pretrained(model: nn.Module, path: str | os.PathLike, *, model_name: str,
                    strict_head: bool = False, input_shape: Sequence[int] | None = None) -> LoadReport:
    """Load the weights file (or classicnets run directory) `path` into `model`, built as the zoo's
    `model_name`, in place, and say what was loaded.

    The base must match tensor for tensor; the head may not (another number of classes, no head, no
    auxiliary classifiers): its tensors that match load, the others keep their initialisation and are
    reported, or with `strict_head` raise. Nothing is assigned unless every check passes.
    `input_shape` (C, H, W), what the model was built for, is needed only by Keras files of models whose
    dense layer follows Flatten, to reorder its rows, where the model was built for a non-square input.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "model.safetensors").is_file():
            raise UserError(f"{path} is a folder without model.safetensors: not a finished classicnets run")
        path = path / "model.safetensors"
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist")
    state = model.state_dict()
    kind = _format_of(path)
    source = (_read_keras(path, model, model_name, kind, input_shape) if kind.startswith("keras")
              else _read_safetensors(path) if kind == "safetensors" else _read_pytorch(path, set(state), model_name))
    file_name = path.name
    heads = _head_prefixes(model)
    new: dict[str, torch.Tensor] = {}
    loaded, missing, skipped = [], [], []
    for key, current in state.items():
        t = source.tensors.get(key)
        said = source.names.get(key, key)
        named = f"'{said}'" + (f" (the model's '{key}')" if said != key else "")
        head = _is_head(key, heads)
        if t is None:
            if key.endswith("num_batches_tracked"):
                continue  # a BatchNorm step counter, not a weight: Keras has none, old .pth files neither
            if not head:
                raise UserError(f"{file_name} has no tensor for the model's '{key}' {_shape(current)}: the file "
                                f"is truncated or holds another architecture than {model_name}")
            missing.append(key)
            continue
        if t.shape != current.shape:
            if not head:
                raise UserError(f"tensor {named} of {file_name} has shape {_shape(t)} where {model_name} has "
                                f"{_shape(current)}: the file holds another architecture or other options")
            skipped.append((said, f"shape {_shape(t)} in the file, {_shape(current)} in the model"))
            missing.append(key)
            continue
        if t.is_floating_point() != current.is_floating_point():
            raise UserError(f"tensor {named} of {file_name} holds {t.dtype} where the model has {current.dtype}")
        # a NaN or infinity makes the sum non-finite (cheap); only then is every value checked
        if t.is_floating_point() and not torch.isfinite(t.sum()) and not torch.isfinite(t).all():
            raise UserError(f"tensor {named} of {file_name} holds NaN or infinite values; the file is damaged")
        new[key] = t.to(current.dtype)
        if not key.endswith("num_batches_tracked"):
            loaded.append(key)
    if strict_head and missing:
        why = next((w for k, w in skipped if source.names.get(missing[0], missing[0]) == k), "not in the file")
        raise UserError(f"the model's head tensor '{missing[0]}' cannot be loaded from {file_name} ({why})")
    for key in [k for k in source.tensors if k not in state]:  # in the file's order
        said = source.names.get(key, key)
        if not _is_head(key, heads):
            raise UserError(f"tensor '{said}' of {file_name} has no place in {model_name}: the file holds "
                            f"another architecture")
        if not key.endswith("num_batches_tracked"):
            skipped.append((said, "the model has no auxiliary classifiers" if key.startswith("aux")
                            else "not in the model's head"))
    model.load_state_dict({**state, **new})
    skipped.sort()
    return LoadReport(path, source.format, loaded, skipped, missing, source.preprocessing)
