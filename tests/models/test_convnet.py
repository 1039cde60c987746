import pytest
import torch

from audiofront.errors import ConfigError, InputError
from audiofront.models import KapreConvNet


def test_paper_parameter_count():
    net = KapreConvNet(n_classes=88)
    assert sum(p.numel() for p in net.parameters()) == 157_336


def test_parameter_count_formula_for_other_sizes():
    # conv1: 64*(1*20*3)+64; 4 convs: 64*(64*9)+64 each; dense: 64*n + n.
    for n_classes, channels in ((10, 1), (50, 2)):
        net = KapreConvNet(n_classes=n_classes, in_channels=channels)
        expected = 64 * channels * 60 + 64 + 4 * (64 * 64 * 9 + 64) + 64 * n_classes + n_classes
        assert sum(p.numel() for p in net.parameters()) == expected


def test_shapes_and_softmax():
    x = torch.randn(3, 1, 84, 63)
    logits = KapreConvNet(88)(x)
    assert logits.shape == (3, 88)
    probs = KapreConvNet(88, softmax=True)(x)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))


def test_too_small_input_and_bad_config():
    with pytest.raises(InputError, match="freq >= 80"):
        KapreConvNet(88)(torch.randn(1, 1, 79, 63))
    with pytest.raises(InputError, match="frames >= 63"):
        KapreConvNet(88)(torch.randn(1, 1, 84, 62))
    with pytest.raises(ConfigError, match="n_classes"):
        KapreConvNet(0)
