"""A new user's mistakes and damaged files, each answered with one `UserError` sentence (issue 9)."""
import hashlib
import io
import struct
import tarfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data import cifar, idx, imdb, load_dataset
from classicnets.data.core import Split
from classicnets.data.download import RemoteFile, fetch
from classicnets.data.files import read_inputs
from classicnets.errors import UserError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    return tmp_path / "cache"


@pytest.fixture
def folder(tmp_path, cache):
    root = tmp_path / "pets"
    for c, colour in (("cats", (250, 10, 10)), ("dogs", (10, 10, 250))):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (12, 10), colour).save(root / c / f"{c}{i}.png")
    return root


# -- 1. data set options ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,options,match", [
    ("adding", {"lenght": 100}, r"data set 'adding' has no option 'lenght'; did you mean 'length'\? \(its options: length, seed\)"),
    ("adding", {"length": "abc"}, r"option length of data set 'adding' must be a whole number; got 'abc'"),
    ("adding", {"length": 1.5}, r"option length of data set 'adding' must be a whole number; got 1.5"),
    ("adding", {"length": True}, r"must be a whole number; got True"),
    ("adding", {"length": 1}, r"option length of data set 'adding' must be between 2 and 100000; got 1"),
    ("adding", {"seed": -5}, r"option seed of data set 'adding' must be between 0 and"),
    ("copy", {"delay": 0}, r"option delay of data set 'copy' must be between 1 and 100000; got 0"),
    ("digits", {"size": 3}, r"data set 'digits' takes no options; got size=3"),
    ("imdb", {"num_words": -5}, r"option num_words of data set 'imdb' must be between 1 and"),
    ("imdb", {"maxlen": "abc"}, r"option maxlen of data set 'imdb' must be a whole number; got 'abc'"),
    ("imdb", {"padding": "middle"}, r"option padding of data set 'imdb' must be 'pre' or 'post'; got 'middle'"),
    ("imdb", {"seed": 2**40}, r"option seed of data set 'imdb' must be between 0 and 4294967295"),
])
def test_bad_data_set_options_are_one_sentence(cache, name, options, match):
    with pytest.raises(UserError, match=match):
        load_dataset(name, **options)
    assert not cache.exists()  # refused before anything was downloaded or generated


def test_whole_number_options_are_accepted_as_floats(cache):
    data = load_dataset("adding", length=4.0, seed=1)
    assert data.name == "adding4" and data.input_shape == (4, 2)


@pytest.mark.parametrize("options,match", [
    ({"sise": 16}, r"image folder .*pets has no option 'sise'; did you mean 'size'\?"),
    ({"size": "abc"}, r"option size of image folder .*pets must be a whole number; got 'abc'"),
    ({"size": -5}, r"option size of image folder .*pets must be between 8 and 4096; got -5"),
])
def test_bad_image_folder_options_are_one_sentence(folder, options, match):
    with pytest.raises(UserError, match=match):
        load_dataset(str(folder), **options)


def test_a_misspelt_data_option_on_the_command_line_exits_2_without_traceback(cli, cache, tmp_path):
    code, _, err = cli("train", "--data", "adding", "--data-arg", "lenght=100", "--out", tmp_path / "run")
    assert code == 2 and "did you mean 'length'" in err and "Traceback" not in err


def test_a_path_that_does_not_exist_is_not_called_an_unknown_data_set(cache, tmp_path):
    with pytest.raises(UserError, match=r"mydata does not exist; give an image folder"):
        load_dataset(str(tmp_path / "mydata"))


# -- 2. the user's arrays ---------------------------------------------------------------------------

def arrays(tmp_path, **a):
    p = tmp_path / "mine.npz"
    np.savez(p, **a)
    return str(p)


X = np.zeros((6, 4, 4), np.uint8)
Y = np.array([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("a,match", [
    (dict(x_train=X, y_train=Y, x_val=X), r"has x_val but no y_val; give both \(or neither\)"),
    (dict(x_train=X, y_train=Y, y_test=Y), r"has y_test but no x_test"),
    (dict(x_train=X[:0], y_train=Y[:0]), r"x_train in .* holds no examples"),
    (dict(x_train=X, y_train=Y[:5]), r"x_train has 6 examples but y_train in .* has 5 labels"),
    (dict(x_train=X, y_train=[0, 1, 2, 0, 1, -1]), r"y_train in .* has negative labels: -1 \(1 example\)"),
    (dict(x_train=X, y_train=[0, 1, 2, 0, 1.5, 1.5]), r"labels that are not whole numbers: 1.5 \(2 examples\)"),
    (dict(x_train=X, y_train=[0, 1, 2, 0, 1, np.nan]), r"labels that are not whole numbers: nan \(1 example\)"),
    (dict(x_train=X, y_train=[0, 1, 2, 0, 1, 1000]), r"y_train in .* has labels outside 0..2: 1000 \(1 example\); "
                                                     r".*every class present in training, and class 3 has no examples"),
    (dict(x_train=X, y_train=[1, 2, 3, 1, 2, 3]), r"y_train in .* has no label 0 \(its labels run 1..3\); .*subtract 1"),
    (dict(x_train=X, y_train=[0] * 6), r"only one class"),
    (dict(x_train=X, y_train=Y, x_val=X[:2], y_val=[1, 5]), r"y_val in .* has labels outside 0..2, the classes of y_train: 5 \(1 example\)"),
    (dict(x_train=X, y_train=np.eye(3)[Y]), r"y_train in .* has shape \(6, 3\); .*one-hot labels save y.argmax\(1\)"),
    (dict(x_train=X, y_train=np.array(list("abcabc"))), r"y_train in .* holds <U1 values; labels must be class numbers"),
    (dict(x_train=np.where(np.arange(96).reshape(6, 4, 4) % 7 == 0, np.nan, 0.5), y_train=Y),
     r"x_train in .* has 14 non-finite values \(NaN or inf\); replace them or drop those examples"),
    (dict(x_train=X, y_train=Y, x_test=np.zeros((2, 5, 5), np.uint8), y_test=[0, 1]),
     r"x_test in .* holds images of shape \(1, 5, 5\) but x_train's are \(1, 4, 4\)"),
    (dict(x_train=X, y_train=Y, x_test=np.zeros((2, 4, 4), np.float32), y_test=[0, 1]),
     r"x_test in .* is float32 but x_train is uint8"),
])
def test_bad_arrays_are_named_in_one_sentence(tmp_path, a, match):
    with pytest.raises(UserError, match=match):
        load_dataset(arrays(tmp_path, **a))


def test_whole_number_float_labels_are_class_numbers(tmp_path):
    data = load_dataset(arrays(tmp_path, x_train=X, y_train=Y.astype(np.float32), x_test=X[:2], y_test=[2.0, 0.0]))
    assert data.num_classes == 3 and data.train.y.dtype == torch.int64 and data.test.y.tolist() == [2, 0]


def test_big_endian_arrays_are_read(tmp_path):
    data = load_dataset(arrays(tmp_path, x_train=np.full((4, 3, 3), 0.5, ">f4"), y_train=np.array([0, 1, 0, 1], ">i8")))
    assert data.train.x.dtype == torch.float32 and torch.all(data.train.x == 0.5) and data.num_classes == 2


def test_check_finite_names_the_split():
    from classicnets.data.core import check_finite
    x = torch.zeros(3, 5, 2)
    x[1, 2, 0] = float("inf")
    with pytest.raises(UserError, match=r"x of the train split has 1 non-finite value \(NaN or inf\)"):
        check_finite(Split(x, torch.zeros(3, 1)), "train")
    with pytest.raises(UserError, match=r"y of the val split has 1 non-finite value"):
        check_finite(Split(torch.zeros(3, 5, 2), torch.tensor([[0.0], [float("nan")], [1.0]])), "val")
    check_finite(Split(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1])), "test")


# -- 3. damaged .npy / .npz -------------------------------------------------------------------------

def huge_npy(path, shape=(100_000, 1000, 1000)):
    """A .npy whose header claims `shape` of float32 (373 GiB) over 16 bytes of data."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
        f.write(b"\0" * 16)
    return path


HUGE = r"header claims an array of shape \(100000, 1000, 1000\) and dtype float32 \(372.5 GiB\) " \
       r"but the file holds only 16 bytes; it is truncated or damaged"


def test_a_npy_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path):
    with pytest.raises(UserError, match=r"array .*big.npy " + HUGE):
        read_inputs([huge_npy(tmp_path / "big.npy")], (1, 8, 8), 16.0)
    npy = tmp_path / "npy"
    npy.mkdir()
    huge_npy(npy / "x_train.npy")
    np.save(npy / "y_train.npy", Y)
    with pytest.raises(UserError, match=r"x_train.npy " + HUGE):
        load_dataset(str(npy))
    with open(npy / "x_train.npy", "rb") as f:  # the same header inside a .npz
        member = f.read()
    buf = io.BytesIO()
    np.savez(buf, y_train=Y)
    import zipfile
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("x_train.npy", member)
    (tmp_path / "big.npz").write_bytes(buf.getvalue())
    with pytest.raises(UserError, match=r"big.npz:x_train " + HUGE):
        load_dataset(str(tmp_path / "big.npz"))


def test_object_arrays_and_non_zip_npz_are_sentences(tmp_path):
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "x_train.npy", np.array([{"a": 1}] * 6, dtype=object), allow_pickle=True)
    np.save(npy / "y_train.npy", Y)
    with pytest.raises(UserError, match=r"x_train.npy holds Python objects \(dtype object\).*save an array of numbers"):
        load_dataset(str(npy))
    np.save(tmp_path / "plain.npy", X)
    (tmp_path / "plain.npz").write_bytes((tmp_path / "plain.npy").read_bytes())
    with pytest.raises(UserError, match=r"plain.npz: it is not a .npz file"):
        load_dataset(str(tmp_path / "plain.npz"))
    good = arrays(tmp_path, x_train=np.arange(96 * 50, dtype=np.float64).reshape(6, 40, 20), y_train=Y)
    data = open(good, "rb").read()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"cut.npz"):
        load_dataset(str(tmp_path / "cut.npz"))


def test_fortran_order_and_big_endian_npy_read_as_numpy_does(tmp_path):
    from classicnets.data.files import load_npy
    a = np.asfortranarray(np.arange(24, dtype=">i4").reshape(2, 3, 4))
    np.save(tmp_path / "f.npy", a)
    assert np.array_equal(load_npy(tmp_path / "f.npy"), a)


# -- 4. predict inputs ------------------------------------------------------------------------------

def stroke(mode, ink, clear, size=8):
    """A `size` square image of colour `clear` with a vertical stroke of colour `ink` in columns 3..4."""
    img = Image.new(mode, (size, size), clear)
    for y in range(size):
        for x in (3, 4):
            img.putpixel((x, y), ink)
    return img


@pytest.mark.parametrize("img,paper,ink", [
    (stroke("RGBA", (0, 0, 0, 255), (0, 0, 0, 0)), 255, 0),            # black drawing on a transparent canvas
    (stroke("LA", (0, 255), (0, 0)), 255, 0),
    (stroke("RGBA", (255, 255, 255, 255), (255, 255, 255, 0)), 0, 255),  # white drawing: black background
])
def test_transparent_images_are_composited_not_blank(tmp_path, img, paper, ink):
    img.save(tmp_path / "drawing.png")
    _, x = read_inputs([tmp_path / "drawing.png"], (1, 8, 8), 255.0)
    assert torch.all(x[0, 0, :, 3:5] == ink) and torch.all(x[0, 0, :, :3] == paper)


def test_palette_transparency_is_composited(tmp_path):
    img = stroke("P", 1, 0)
    img.putpalette([0, 0, 0] * 2)  # both entries black; entry 0 is transparent
    img.save(tmp_path / "p.png", transparency=0)
    _, x = read_inputs([tmp_path / "p.png"], (1, 8, 8), 16.0)
    assert torch.all(x[0, 0, :, 3:5] == 0) and torch.all(x[0, 0, :, :3] == 16)


def test_exif_orientation_turns_phone_photos_upright(tmp_path):
    a = np.zeros((10, 20), np.uint8)
    a[:, 10:] = 255  # stored: left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the stored left half is the top
    Image.fromarray(a).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    _, x = read_inputs([tmp_path / "photo.jpg"], (1, 20, 10), 255.0)
    assert x[0, 0, :9].mean() < 10 and x[0, 0, 11:].mean() > 245


def bomb_png(path, side=20_000):
    """A tiny PNG whose header declares side x side pixels (over Pillow's decompression-bomb limit)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", side, side) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(data))
    return path


def test_decompression_bombs_are_refused_and_skipped_in_folders(tmp_path, folder, monkeypatch):
    with pytest.raises(UserError, match=r"bomb.png has more pixels than Pillow's limit .*; resize it"):
        read_inputs([bomb_png(tmp_path / "bomb.png")], (1, 8, 8), 16.0)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 12 x 12: only a warning from Pillow
    Image.new("L", (12, 12)).save(tmp_path / "warn.png")
    with pytest.raises(UserError, match=r"warn.png has more pixels than Pillow's limit of 100"):
        read_inputs([tmp_path / "warn.png"], (1, 8, 8), 16.0)
    monkeypatch.undo()
    bomb_png(folder / "cats" / "bomb.png")
    data = load_dataset(str(folder), size=8)
    assert len(data.train) == 4 and [p.rsplit("/", 1)[1] for p in data.meta["skipped"]] == ["bomb.png"]


@pytest.mark.parametrize("array,match", [
    (np.zeros((0, 8, 8), np.float32), r"empty.npy holds no images \(shape \(0, 8, 8\)\)"),
    (np.where(np.eye(8) > 0, np.inf, 1.0), r"array .*empty.npy has 8 non-finite values \(NaN or inf\); replace them"),
    (np.concatenate([np.ones((8, 8, 3)), np.eye(8)[..., None]], 2), r"has 4 channels and its 4th \(alpha\) varies"),
])
def test_bad_arrays_for_predict_are_one_sentence(tmp_path, array, match):
    np.save(tmp_path / "empty.npy", array)
    with pytest.raises(UserError, match=match):
        read_inputs([tmp_path / "empty.npy"], (1, 8, 8), 16.0)


def test_four_channel_arrays_with_opaque_alpha_or_for_four_channel_models(tmp_path):
    a = np.concatenate([np.full((8, 8, 3), 2.0), np.full((8, 8, 1), 255.0)], 2)
    np.save(tmp_path / "rgba.npy", a)
    _, x = read_inputs([tmp_path / "rgba.npy"], (3, 8, 8), 16.0)
    assert x.shape == (1, 3, 8, 8) and torch.all(x == 2)
    _, x4 = read_inputs([tmp_path / "rgba.npy"], (4, 8, 8), 16.0)
    assert x4.shape == (1, 4, 8, 8) and torch.all(x4[0, 3] == 255)


# -- 5. the caches ----------------------------------------------------------------------------------

def test_a_damaged_cached_download_is_moved_aside_not_deleted(server, capsys):
    root, base = server
    (root / "f.bin").write_bytes(b"the real content")
    f = RemoteFile("f.bin", f"{base}/f.bin", md5(b"the real content"))
    cached = root.parent / "cache" / "demo" / "f.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"my own version")
    assert fetch(f, "demo").read_bytes() == b"the real content"
    aside = cached.with_name(f"f.bin.bad-{md5(b'my own version')[:8]}")
    assert aside.read_bytes() == b"my own version"
    err = capsys.readouterr().err
    assert f"does not match the published checksum of f.bin (md5 {f.md5}; it has md5 {md5(b'my own version')} " \
           f"and 14 bytes); moved it to {aside}" in err


def test_offline_with_a_damaged_cached_file_says_where_it_went(cache):
    f = RemoteFile("x.gz", "https://example.org/x.gz", md5(b"x"))
    (cache / "demo").mkdir(parents=True)
    (cache / "demo" / "x.gz").write_bytes(b"y")
    with pytest.raises(UserError, match=r"the damaged copy that was there is now .*x.gz.bad-"):
        fetch(f, "demo")
    assert (cache / "demo" / f"x.gz.bad-{md5(b'y')[:8]}").read_bytes() == b"y"


def test_a_folder_in_place_of_a_cached_or_given_file_is_a_sentence(cache, tmp_path):
    f = RemoteFile("train-images-idx3-ubyte.gz", "https://example.org/t.gz", md5(b"x"))
    (cache / "mnist" / f.name).mkdir(parents=True)
    with pytest.raises(UserError, match=r"mnist/train-images-idx3-ubyte.gz is a folder where the file "
                                        r"train-images-idx3-ubyte.gz should be; move or rename the folder"):
        fetch(f, "mnist")
    (tmp_path / "given" / f.name).mkdir(parents=True)
    with pytest.raises(UserError, match=r"given/train-images-idx3-ubyte.gz is a folder"):
        fetch(f, "mnist", data_dir=tmp_path / "given")


@pytest.mark.parametrize("damage", ["truncate", "wrong arrays"])
def test_a_damaged_image_folder_cache_is_moved_aside_and_rebuilt(folder, cache, damage, capsys):
    first = load_dataset(str(folder), size=8)
    [entry] = (cache / "folders").iterdir()
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        buf = io.BytesIO()
        np.savez(buf, x_train=np.zeros((1, 3, 2, 2), np.uint8), y_train=np.zeros(1, np.int64), skipped=np.array([], str))
        entry.write_bytes(buf.getvalue())
    again = load_dataset(str(folder), size=8)
    assert torch.equal(again.train.x, first.train.x)
    assert len(list((cache / "folders").glob("*.bad-*"))) == 1 and "is damaged" in capsys.readouterr().err
    assert torch.equal(load_dataset(str(folder), size=8).train.x, first.train.x)  # the rebuilt cache serves


def test_a_folder_in_place_of_the_image_cache_is_a_sentence(folder, cache):
    load_dataset(str(folder), size=8)
    [entry] = (cache / "folders").iterdir()
    entry.unlink()
    entry.mkdir()
    with pytest.raises(UserError, match=r"is a folder where classicnets caches decoded images; move or rename it"):
        load_dataset(str(folder), size=8)


def imdb_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split in ("train", "test"):
            for label in ("pos", "neg"):
                data = f"a {label} review".encode()
                info = tarfile.TarInfo(f"aclImdb/{split}/{label}/0_1.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_damaged_imdb_token_cache_is_moved_aside_and_rebuilt(tmp_path, cache, monkeypatch):
    archive = imdb_archive()
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "aclImdb_v1.tar.gz").write_bytes(archive)
    monkeypatch.setattr(imdb, "ACLIMDB", RemoteFile("aclImdb_v1.tar.gz", "https://example.org/a.tar.gz", md5(archive)))
    words = imdb.get_word_index(data_dir=tmp_path / "given")
    [entry] = (cache / "imdb").glob("tokens-*.npz")
    entry.write_bytes(entry.read_bytes()[:50])
    assert imdb.get_word_index(data_dir=tmp_path / "given") == words
    assert len(list((cache / "imdb").glob("tokens-*.npz.bad-*"))) == 1


# -- 6. the other readers ---------------------------------------------------------------------------

def test_an_idx_header_whose_size_overflows_is_refused():
    header = bytes([0, 0, 8, 4]) + (2**16).to_bytes(4, "big") * 4  # 2**64 values: int64 wraps to 0
    with pytest.raises(UserError, match=r"f.idx holds 0 bytes of values"):
        idx.parse_idx(header, "f.idx")


def test_a_cut_short_extracted_cifar_file_is_extracted_again(server, monkeypatch, tmp_path):
    root, base = server
    rng = np.random.default_rng(0)
    members = {f"cifar-10-batches-bin/{n}": rng.integers(0, 10, (2, 3073), dtype=np.uint8).tobytes()
               for n in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "cifar-10-binary.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setattr(cifar, "CIFAR10", RemoteFile("cifar-10-binary.tar.gz", f"{base}/cifar-10-binary.tar.gz",
                                                     md5(buf.getvalue())))
    first = load_dataset("cifar10")
    extracted = tmp_path / "cache" / "cifar10" / "extracted" / "cifar-10-batches-bin" / "data_batch_3.bin"
    extracted.write_bytes(extracted.read_bytes()[:1000])
    assert torch.equal(load_dataset("cifar10").train.x, first.train.x)
    extracted.unlink()
    extracted.mkdir()
    with pytest.raises(UserError, match=r"data_batch_3.bin is a folder where classicnets extracts a file"):
        load_dataset("cifar10")

