"""The course's experiments as recipes. File names are the course texts in ../shared/course:

    000 Large ConvNets · 001 ResNet explained · 002 ConvNets for newcomers · 003 Recurrent networks ·
    004 ConvNets part 1

Quotes are verbatim (code lines shortened with …); line numbers are those of the text files.

Every network built from Keras code starts from Keras's initial weights (`init="keras"`); the others
of Keras's literal behaviours (`recipes.KERAS_LITERAL`) are set where they are harmless and named in
`keras_off` where they are not, each recipe's notes saying which and why.
"""
from __future__ import annotations

from . import CourseFigure, Recipe, register_recipe

_KERAS = dict(init="keras")                            # glorot_uniform kernels, zero biases
_KERAS_TEXT = dict(init="keras", pad_row="trainable")  # ... and the embedding's row 0 trained (mask_zero off)
_INIT_NOTE = "Keras's initial weights (glorot_uniform kernels, zero biases: `--arg init=keras`) are set."
_ADAM_NOTE = ("Adam adds PyTorch's epsilon 1e-8 after bias correction, Keras its own before it (1e-8 in Keras 1, "
              "1e-7 from Keras 2.2): a difference only where gradients are near zero.")
_AUGMENT_NOTE = ("Augmentation warps the uint8 images and rounds them before normalising, where Keras's "
                 "ImageDataGenerator warps the normalised floats (see the user guide, 'Keras fidelity').")

F000, F001, F002, F003, F004 = ("000_6a8ff5c7ada7aa70.txt", "001_b9e4391287ed6fc6.txt", "002_4199b2fd625fe546.txt",
                                "003_6d6dd4707c479ce3.txt", "004_5b9c29f5a5af983d.txt")

register_recipe(Recipe(
    name="resnet_mini_cifar10", title="the Keras ResNet MiniModel on CIFAR-10, with augmentation",
    source=f"{F001} L155-210", model="resnet_mini", data="cifar10", model_args=dict(_KERAS, bn_momentum=0.01),
    train=dict(optimizer="adam", lr=0.001, batch_size=128, epochs=50, validate_on="test", normalize="pixel"),
    augment=dict(rotation_range=10.0, width_shift_range=5 / 32, height_shift_range=5 / 32, horizontal_flip=True),
    figure=CourseFigure("val_acc", 0.8995, 50, "Epoch 50/50 … loss: 0.0969 - acc: 0.9660 - val_loss: 0.3984 - "
                        "val_acc: 0.8995", f"{F001} L535-536"),
    keras_off=dict(test_normalize="own"),
    notes="Adam(0.001), batch 128, 50 epochs and validation_data=[test_x, test_y] are the text's; "
          "LearningRateScheduler is imported but never used, so the rate is constant. " + _INIT_NOTE + " "
          "BatchNormalization() has Keras's defaults: momentum 0.99 (`bn_momentum=0.01`, PyTorch's 1 - m) and "
          "epsilon 1e-3. Normalisation: /255, minus the global mean, divided by the per-pixel std "
          "(`x - x.mean()`, `x / x.std(axis=0)`). Left off: the course computes the test set's mean and std "
          "on the test set itself (L163-167), and so validates on test images normalised by their own "
          "statistics; the recipe normalises them with the training set's, as any new image must be "
          "(`--test-normalize own` runs the course's). fill_mode is silent: Keras's default 'nearest'. "
          + _AUGMENT_NOTE + " " + _ADAM_NOTE + " The epochs of the log add up to 1,076 s (about 18 "
          "minutes) on the course's GPU."))

register_recipe(Recipe(
    name="cifar10_dropout_cnn", title="the CIFAR-10 CNN with dropout of 'ConvNets for newcomers'",
    source=f"{F002} L115-137", model="cifar_dropout_convnet", data="cifar10", model_args=dict(_KERAS),
    train=dict(optimizer="adam", lr=0.001, batch_size=32, epochs=200, val_split=0.1, val_split_mode="last",
               normalize="max"),
    keras_off=dict(test_normalize="raw"),
    figure=CourseFigure("test_acc", 0.7853, 200, "model.evaluate(X_test, Y_test) … [0.97292723369598388, 0.7853]",
                        f"{F002} L137"),
    notes="batch 32, 200 epochs, validation_split=0.1 (Keras: the last 5,000 training images) and Adam "
          "with Keras's default rate 0.001 are the text's. " + _INIT_NOTE + " (Keras 1's Convolution2D and "
          "Dense default, as Keras 2's.) Images are divided by the training set's maximum "
          "(`X_train /= np.max(X_train)`), and the test images by the same number, as the text says it "
          "means to. Left off: its code divides X_test by np.max(X_train) after X_train was divided (L123), "
          "that is by 1.0, so the printed 78.53% was evaluated on raw 0-255 pixels (`--test-normalize raw` "
          "does the same). A ReLU network keeps most of its decisions when its inputs are scaled up, not its "
          "confidence: on digits (values 0..16; `classicnets train --recipe cifar10_dropout_cnn --data digits "
          "--epochs 20`, then the same with `--test-normalize raw`) the same weights score 97.50% (test loss "
          "0.076) normalised and 98.06% (test loss 0.973) raw. " + _ADAM_NOTE + " The prose's own figure is 76.6% (L140); "
          "the printed evaluation is 78.53%."))

_CIFAR_CONVNET = dict(optimizer="rmsprop", lr=0.001, batch_size=128, epochs=100, val_split=0.2,
                      val_split_mode="last", normalize="scale")
register_recipe(Recipe(
    name="cifar10_convnet", title="the CIFAR-10 ConvNet of 'ConvNets part 1' (Flatten)",
    source=f"{F004} L140-201", model="cifar_convnet", data="cifar10", model_args=dict(_KERAS),
    train=dict(_CIFAR_CONVNET),
    figure=CourseFigure("val_acc", 0.7119, 100, "Epoch 100/100 … loss: 0.1192 - acc: 0.9806 - val_loss: 3.4406 - "
                        "val_acc: 0.7119", f"{F004} L400-401"),
    notes="rmsprop (Keras's default rate 0.001, rho 0.9), 100 epochs, batch 128, validation_split=0.2 and "
          "/255 are the text's. " + _INIT_NOTE + " Its best epoch reaches val_acc 0.7315 (epoch 26, L253); the printed test "
          "accuracy 0.725 (L408) comes from a cell run before this training."))

register_recipe(Recipe(
    name="cifar10_convnet_gmp", title="the same ConvNet with global max pooling instead of Flatten",
    source=f"{F004} L456-504", model="cifar_convnet_gmp", data="cifar10", model_args=dict(_KERAS),
    train=dict(_CIFAR_CONVNET),
    figure=CourseFigure("val_acc", None, 100, "If the model is executed then it can be shown that there is no "
                        "appreciable decrease in the performance of the model.", f"{F004} L456"),
    notes="The text shows only the model (179,306 parameters); training as for the Flatten model. "
          + _INIT_NOTE + " Compare the two runs with `classicnets compare`."))

register_recipe(Recipe(
    name="cifar10_dense", title="a dense (fully connected) network on CIFAR-10",
    source=f"{F004} L448", model="mlp", data="cifar10", model_args=dict(_KERAS),
    train=dict(optimizer="rmsprop", lr=0.001, batch_size=128, epochs=20, validate_on="test", normalize="scale"),
    figure=CourseFigure("test_acc", 0.45, None, "we classified the CIFAR-10 dataset using a Dense Feed Forward "
                        "model and achieved a test accuracy of about 45%", f"{F004} L448", approx=True),
    notes="The course cites this result from a chapter it does not include: only 'two layer' is known. "
          "The recipe uses the zoo's two-layer perceptron (512-512, dropout 0.2) with the settings of "
          "Keras 2's mnist_mlp example (RMSprop 0.001, batch 128, 20 epochs, validation on the test set) "
          "and Keras's initial weights (`--arg init=keras`)."))

register_recipe(Recipe(
    name="mnist_mlp", title="the MNIST multilayer perceptron",
    source=f"{F002} L13", model="mlp", data="mnist", model_args=dict(_KERAS),
    train=dict(optimizer="rmsprop", lr=0.001, batch_size=128, epochs=20, validate_on="test", normalize="scale"),
    figure=CourseFigure("test_acc", 0.982, None, "a multilayer perceptron (MLP) containing two layers was applied "
                        "to the MNIST, reaching an accuracy level of 98.2%", f"{F002} L13"),
    notes="The course cites the result without code. Settings of Keras 2's mnist_mlp example, whose "
          "network the zoo's `mlp` is (512-512, dropout 0.2, 669,706 parameters): RMSprop 0.001, batch "
          "128, 20 epochs, /255, validation on the test set, and its initial weights (`--arg init=keras`)."))

register_recipe(Recipe(
    name="mnist_cnn", title="the MNIST ConvNet with dropout",
    source=f"{F002} L142", model="mnist_cnn", data="mnist", model_args=dict(_KERAS),
    train=dict(optimizer="adadelta", lr=1.0, batch_size=128, epochs=12, validate_on="test", normalize="scale"),
    figure=CourseFigure("test_acc", 0.993, None, "MNIST; CNN dropout' 99.3%", f"{F002} L142"),
    notes="The course cites the result without code; Keras 2's mnist_cnn example, which reports 99.25% "
          "after 12 epochs, is the network and the settings: the zoo's `mnist_cnn` (two valid 3x3 "
          "convolutions of 32 and 64, 2x2 max pooling, dropout 0.25, dense 128, dropout 0.5: 1,199,882 "
          "parameters) with Keras's initial weights, Adadelta with Keras's defaults (lr 1.0, rho 0.95, "
          "epsilon 1e-7), batch 128, 12 epochs, /255, validation on the test set. (`lenet`, the project's "
          "small default, is conv-pool-conv-pool with one dropout and 421,642 parameters at 28x28: "
          "another network.)"))

register_recipe(Recipe(
    name="small_vgg_random", title="the small VGG-like convnet on random data (Keras's example)",
    source=f"{F000} L39-119", model="small_vgg", data="random_images", model_args=dict(_KERAS),
    train=dict(optimizer="sgd", lr=0.01, decay=1e-6, momentum=0.9, nesterov=True, batch_size=32, epochs=10,
               normalize="scale"),
    figure=CourseFigure("loss", 2.2750, 10, "Epoch 1/10 … loss: 2.3024 … Epoch 10/10 … loss: 2.2750",
                        f"{F000} L100-119"),
    notes="SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True), batch 32, 10 epochs on "
          "np.random.random((100, 100, 100, 3)) with random labels of 10 classes, no validation: all the "
          "text's. " + _INIT_NOTE + " The data are noise, so the loss only wanders near ln 10 = 2.3026; the course's trend "
          "(2.3024 → 2.2750, lowest 2.2378 at epoch 6) is what a run is compared with."))

_IMDB = dict(optimizer="rmsprop", lr=0.001, batch_size=128, epochs=100, val_split=0.2, val_split_mode="last")
_IMDB_DATA = dict(num_words=10000, maxlen=500, source="keras")
_RNN_NOTE = ("Embedding(10000, 32), rmsprop, binary cross-entropy, 100 epochs, batch 128 (the `batch_size = 32` "
             "defined at L100 is not used), validation_split=0.2, num_words 10000 and pad_sequences(maxlen=500) "
             "are the text's; word ids are Keras's own imdb.npz ids. Keras's initial weights (the recurrent layers "
             "always start as Keras's; `init=keras` adds the Dense head's glorot_uniform kernel and zero bias) and "
             "its Embedding's trainable row 0 (mask_zero is off, so the padding id 0 has a learnt vector: "
             "`pad_row=trainable`) are set.")
register_recipe(Recipe(
    name="imdb_simple_rnn", title="SimpleRNN on IMDB", source=f"{F003} L98-387",
    model="imdb_simple_rnn", model_args=dict(_KERAS_TEXT), data="imdb", data_args=dict(_IMDB_DATA), train=dict(_IMDB),
    figure=CourseFigure("val_acc", 0.85, 10, "the model starts to overfit after about 8-10 epochs, achieving a "
                        "maximum accuracy of about 85%", f"{F003} L387", best=True, approx=True),
    notes=_RNN_NOTE + " The log's best is val_acc 0.8678 at epoch 10; the last epoch ends at 0.7356."))

register_recipe(Recipe(
    name="imdb_stacked_rnn", title="stacked SimpleRNNs on IMDB", source=f"{F003} L403-430",
    model="imdb_stacked_rnn", model_args=dict(_KERAS_TEXT), data="imdb", data_args=dict(_IMDB_DATA), train=dict(_IMDB),
    figure=CourseFigure("val_acc", None, None, "SimpleRNN(32)  # This last layer only returns the last outputs.",
                        f"{F003} L411"),
    notes="The course builds and summarises this network (328,320 parameters without an output layer) but "
          "does not train it; the recipe adds Dense(1) and trains it as the SimpleRNN experiment, with "
          "Keras's initial weights and trainable row 0."))

register_recipe(Recipe(
    name="imdb_bidirectional_rnn", title="a bidirectional SimpleRNN on IMDB", source=f"{F003} L439-466",
    model="imdb_bidirectional_rnn", model_args=dict(_KERAS_TEXT), data="imdb", data_args=dict(_IMDB_DATA), train=dict(_IMDB),
    figure=CourseFigure("val_acc", None, None, "layers.Bidirectional(layers.SimpleRNN(32))", f"{F003} L450"),
    notes="Built and summarised in the course (324,225 parameters in Keras), not trained; trained here as "
          "the SimpleRNN experiment, with Keras's initial weights and trainable row 0."))

register_recipe(Recipe(
    name="imdb_rnn_dropout", title="SimpleRNN with dropout and recurrent dropout on IMDB", source=f"{F003} L468-691",
    model="imdb_simple_rnn", model_args=dict(_KERAS_TEXT, dropout=0.2, recurrent_dropout=0.2), data="imdb",
    data_args=dict(_IMDB_DATA), train=dict(_IMDB),
    figure=CourseFigure("val_acc", 0.8514, 18, "Epoch 18/100 … val_acc: 0.8514", f"{F003} L527", best=True),
    notes=_RNN_NOTE + " The text: overfitting 'is pushed out to later in the training process, after 60-70 "
          "epochs … there is not much improvement in the best accuracy level' (L472); the last epoch ends "
          "at val_acc 0.7976."))

register_recipe(Recipe(
    name="imdb_lstm", title="an LSTM on IMDB", source=f"{F003} L77",
    model="imdb_lstm", model_args=dict(_KERAS_TEXT), data="imdb", data_args=dict(_IMDB_DATA), train=dict(_IMDB),
    figure=CourseFigure("val_acc", None, None, "In the final section we show how to model RNNs and LSTMs using "
                        "Keras", f"{F003} L77"),
    notes="The course announces LSTMs but its text runs none; the recipe trains Embedding(10000, 32), "
          "LSTM(32), Dense(1) with the SimpleRNN experiment's settings (Keras's initial weights, with its "
          "forget-gate bias 1, and trainable row 0), to set beside its 85%."))

register_recipe(Recipe(
    name="imdb_conv1d", title="the 1D ConvNet on IMDB of 'ConvNets part 1'", source=f"{F004} L609-742",
    model="imdb_conv1d", model_args=dict(_KERAS_TEXT), data="imdb", data_args=dict(_IMDB_DATA),
    train=dict(optimizer="rmsprop", lr=1e-4, batch_size=128, epochs=10, val_split=0.2, val_split_mode="last"),
    keras_off={"arg.output": "probability"},
    figure=CourseFigure("val_acc", 0.8730, 10, "Epoch 10/10 … loss: 0.2206 - acc: 0.9254 - val_loss: 0.4453 - "
                        "val_acc: 0.8730", f"{F004} L700-701"),
    notes="RMSprop(learning_rate=1e-4), 10 epochs, batch 128, validation_split=0.2, num_words 10000, "
          "maxlen 500 are the text's, with Keras's initial weights and trainable embedding row 0 "
          "(`init=keras`, `pad_row=trainable`). Left off: its last layer is Dense(1) without a sigmoid fed "
          "to binary_crossentropy (L651-656), which Keras reads as a probability clipped to [1e-7, 1 - 1e-7], "
          "right at output > 0.5, with no gradient where the output is clipped; the recipe reads it as a "
          "logit (the sigmoid folded into the loss). The literal reading (`--arg output=probability`) trains "
          "only if enough first outputs land inside (0, 1): they share a sign, and with the recipe's seed 0 "
          "every output on generated reviews starts below 1e-7, so no gradient flows at all "
          "(tests/recipes/test_recipes.py); the course's run happened to start on the right side. The prose "
          "says 'a maximum accuracy of about 80%' (L742) against the log's 0.8730."))

register_recipe(Recipe(
    name="imdb_cnn", title="the Keras imdb_cnn 1D ConvNet of 'Large ConvNets'", source=f"{F000} L347-446",
    model="imdb_cnn", model_args=dict(_KERAS_TEXT), data="imdb",
    data_args=dict(num_words=5000, maxlen=100, source="keras"),
    train=dict(optimizer="rmsprop", lr=0.001, batch_size=32, epochs=10, validate_on="test"),
    figure=CourseFigure("val_acc", 0.7900, 10, "Epoch 10/10 … loss: 0.1264 - acc: 0.9565 - val_loss: 0.7149 - "
                        "val_acc: 0.7900", f"{F000} L445-446"),
    notes="max_features 5000, maxlen 100, batch 32, 10 epochs, rmsprop (default rate), "
          "validation_data=(X_test, y_test) are the text's, with Keras's initial weights and trainable "
          "embedding row 0 (`init=keras`, `pad_row=trainable`). Its best epoch reaches val_acc 0.8540 "
          "(epoch 3, L432). The course's Keras 1 read an older imdb_full.pkl; the recipe uses Keras 2's imdb.npz."))

register_recipe(Recipe(
    name="imdb_kim_cnn",
    title="Kim's text CNN in the IMDB setting of 'Large ConvNets' (1D-Conv for text classification)",
    source=f"{F000} L320-412", model="kim_cnn", data="imdb", data_args=dict(num_words=5000, maxlen=100, source="keras"),
    train=dict(optimizer="rmsprop", lr=0.001, batch_size=32, epochs=10, validate_on="test"),
    figure=CourseFigure("val_acc", 0.90, None, "He has shown that by simple one-dimentional convolutional networks, "
                        "one can develops very simple neural networks that reach 90% accuracy very quickly.",
                        f"{F000} L324", approx=True),
    notes="The course names Kim (2014) and his 90% (L324) and then runs Keras's imdb_cnn example, not Kim's "
          "network. The recipe trains Kim's network (`kim_cnn`: 300-d embeddings, filter widths 3, 4 and 5 with "
          "100 maps each, ReLU, max over time, dropout 0.5; the paper's section 3.1) with the settings the "
          "section gives for its example: max_features 5000, maxlen 100, batch 32, 10 epochs, rmsprop (Keras's "
          "rate 0.001), validation_data=(X_test, y_test), so `classicnets compare` sets it beside `imdb_cnn`. "
          "Kim's own training (Adadelta, batch 50, a max-norm constraint of 3 on the output weights, early "
          "stopping on a development set) is not used, and his paper reports no IMDB figure: the 90% is the "
          "course's. Reviews cut to their first 100 words cost accuracy: the section's own network reaches "
          "at best 85.40% in this setting (L432); `--data-arg maxlen=500 --data-arg num_words=10000` is the "
          "setting of 'ConvNets part 1' (`imdb_conv1d`). The network is Kim's, not Keras-born: it keeps "
          "PyTorch's initial weights and the frozen zero padding row Kim's own code keeps."))

register_recipe(Recipe(
    name="cats_vs_dogs_dense", title="a dense (fully connected) network on cats vs dogs",
    source=f"{F004} L799, L1329", model="mlp", model_args=dict(_KERAS), data="cats_vs_dogs",
    data_args=dict(size=160),
    train=dict(optimizer="rmsprop", lr=0.001, batch_size=128, epochs=20, normalize="scale"),
    figure=CourseFigure("val_acc", 0.60, None, "The Transfer Learning model results in validation accuracy of about "
                        "97%, which is a big improvement on the 60% accuracy in the Dense Feed Forward model without "
                        "feature extraction.", f"{F004} L1329", approx=True),
    notes="The course cites this result from a chapter it does not include ('In that chapter we used a Dense Feed "
          "Forward Network to do the classification and obtained an accuracy of about 60%', L799): nothing of "
          "its network or training is known. The recipe uses the zoo's two-layer perceptron (512-512, dropout "
          "0.2, one sigmoid output: 39,585,281 parameters on 160x160x3 inputs) with the settings of Keras 2's "
          "mnist_mlp example, as `cifar10_dense` does (RMSprop 0.001, batch 128, 20 epochs, /255, Keras's "
          "initial weights), on the "
          "images at the course's 160 px, validated on the 1,000 validation images as the transfer-learning "
          "recipe is."))

register_recipe(Recipe(
    name="mobilenet_cats_vs_dogs", title="transfer learning: MobileNet's ImageNet features, a new head, cats vs dogs",
    source=f"{F004} L769-1329", model="mobilenet", data="cats_vs_dogs", data_args=dict(size=160),
    transfer=dict(weights="imagenet", head="flatten,dense:256,dropout:0.5,dense", freeze="base", features=True),
    train=dict(optimizer="rmsprop", lr=0.001, batch_size=32, epochs=100),
    figure=CourseFigure("val_acc", 0.97, 100, "The Transfer Learning model results in validation accuracy of "
                        "about 97%", f"{F004} L1329", approx=True),
    notes="MobileNet(weights='imagenet', include_top=False, input_shape=(160, 160, 3)), method 1 (features "
          "of the frozen base computed once, 'In this example we will use Method 1', L1002), the head "
          "Flatten, Dense(256) without activation, Dropout(0.5), Dense(1, sigmoid), rmsprop, 100 epochs, "
          "validation on the 1,000 validation images: the text's. batch_size is silent: Keras's 32 "
          "(63 steps, as the log shows). Inputs go through MobileNet's preprocess_input (x/127.5 - 1). "
          "The log's best val_accuracy is 0.9830 (epoch 1), its last 0.9760. A remaining difference: the new "
          "head's two Dense layers start from PyTorch's initial weights, not Keras's glorot_uniform (the "
          "transfer options have no `init`). Method 2 (frozen base inside the model, with augmentation) and "
          "method 3 (fine-tuning) are in the user guide."))
