"""ResEmoteNet: the published parameter layout, checkpoints in the authors' format, and
the authors' input transform."""

import numpy as np
import pytest
import torch

from extractors.resemotenet import (
    FER2013_LABELS,
    CheckpointFormatError,
    ResEmoteNet,
    load_resemotenet,
    num_classes_in,
    preprocess_faces,
    random_resemotenet,
    read_state_dict,
)

# Parameter names and shapes of the authors' approach/ResEmoteNet.py (commit fabbe680),
# which their published checkpoints hold under 'model_state_dict'.
PUBLISHED_SHAPES = {
    "conv1.weight": (64, 3, 3, 3),
    "conv1.bias": (64,),
    "bn1.running_var": (64,),
    "conv2.weight": (128, 64, 3, 3),
    "conv3.weight": (256, 128, 3, 3),
    "bn3.weight": (256,),
    "se.fc.0.weight": (16, 256),
    "se.fc.2.weight": (256, 16),
    "res_block1.conv1.weight": (512, 256, 3, 3),
    "res_block1.conv1.bias": (512,),
    "res_block1.conv2.weight": (512, 512, 3, 3),
    "res_block1.shortcut.0.weight": (512, 256, 1, 1),
    "res_block1.shortcut.1.running_mean": (512,),
    "res_block2.conv1.weight": (1024, 512, 3, 3),
    "res_block3.conv2.weight": (2048, 2048, 3, 3),
    "res_block3.shortcut.0.bias": (2048,),
    "fc1.weight": (1024, 2048),
    "fc2.weight": (512, 1024),
    "fc3.weight": (256, 512),
    "fc4.weight": (7, 256),
    "fc4.bias": (7,),
}


@pytest.fixture(scope="module")
def six_class_network():
    return random_resemotenet(6, seed=3)


@pytest.fixture(scope="module")
def authors_checkpoint(tmp_path_factory, six_class_network):
    """A 6-class checkpoint written as the authors' scripts save theirs (random values)."""
    path = tmp_path_factory.mktemp("resemotenet") / "best_model.pth"
    torch.save({"epoch": 12, "model_state_dict": six_class_network.state_dict(), "best_val_acc": 0.5}, path)
    return path


def test_parameter_names_and_shapes_match_the_published_layout():
    state = ResEmoteNet().state_dict()
    for name, shape in PUBLISHED_SHAPES.items():
        assert tuple(state[name].shape) == shape, name
    assert not any(name.startswith("se.fc.") and name.endswith("bias") for name in state)  # SE linears have no bias
    assert len(state) == 94  # 13 BatchNorms x 5 entries + 29 conv/linear tensors
    assert sum(p.numel() for p in ResEmoteNet().parameters()) == 80_238_599


def test_authors_checkpoint_loads_with_its_number_of_classes(authors_checkpoint, six_class_network):
    network = load_resemotenet(authors_checkpoint)
    assert network.num_classes == 6
    assert not network.training
    faces = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        embedding, logits = network(faces)
        expected_embedding, expected_logits = six_class_network(faces)
    assert embedding.shape == (3, 1024) and logits.shape == (3, 6)
    torch.testing.assert_close(embedding, expected_embedding)
    torch.testing.assert_close(logits, expected_logits)
    assert (embedding >= 0).all()  # fc1 after its ReLU


def test_bare_state_dict_is_accepted_too(tmp_path, six_class_network):
    path = tmp_path / "bare.pth"
    torch.save(six_class_network.state_dict(), path)
    assert num_classes_in(read_state_dict(path)) == 6


def test_files_that_are_not_resemotenet_checkpoints_are_refused_in_one_line(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointFormatError, match="cannot be read as a PyTorch checkpoint"):
        read_state_dict(text)
    other = tmp_path / "other.pth"
    torch.save({"model_state_dict": {"layer.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(CheckpointFormatError, match="not a ResEmoteNet checkpoint"):
        read_state_dict(other)
    wrong = tmp_path / "wrong.pth"
    state = {"fc4.weight": torch.zeros(7, 256), "fc4.bias": torch.zeros(7), "fc1.weight": torch.zeros(3, 3)}
    torch.save({"model_state_dict": state}, wrong)
    with pytest.raises(CheckpointFormatError, match="do not match the ResEmoteNet layout"):
        load_resemotenet(wrong)


def test_preprocessing_matches_the_authors_torchvision_transform():
    from PIL import Image
    from torchvision import transforms

    authors = transforms.Compose([
        transforms.Resize((64, 64)),
        transforms.Grayscale(num_output_channels=3),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, size=(97, 83, 3), dtype=np.uint8),
             rng.integers(0, 256, size=(40, 52, 3), dtype=np.uint8)]
    batch = preprocess_faces(crops)
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == torch.float32
    expected = torch.stack([authors(Image.fromarray(crop)) for crop in crops])
    torch.testing.assert_close(batch, expected, atol=1e-6, rtol=0)
    assert not torch.equal(batch[:, 0], batch[:, 1])  # per-channel mean/std of the grey copies


def test_random_networks_are_reproducible_and_leave_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = random_resemotenet(len(FER2013_LABELS), seed=5)
    assert torch.equal(torch.rand(1), expected_next)
    second = random_resemotenet(len(FER2013_LABELS), seed=5)
    assert torch.equal(first.fc4.weight, second.fc4.weight)
    assert not torch.equal(first.fc4.weight, random_resemotenet(7, seed=6).fc4.weight)


def test_embeddings_do_not_depend_on_the_number_of_torch_threads():
    """Features must be the same whatever cores a machine (or a Ray worker) gives torch."""
    network = random_resemotenet(7, seed=0).eval()
    faces = torch.rand(32, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            with torch.inference_mode():
                results.append(network(faces))
    finally:
        torch.set_num_threads(before)
    for embedding, logits in results[1:]:
        assert torch.equal(embedding, results[0][0]) and torch.equal(logits, results[0][1])
