import pytest
import torch

from core.edit.hooks import (
    HookError,
    StopForward,
    added_to_output,
    capture,
    capture_many,
    get_module,
    low_rank_added,
    stop_after,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TupleOut(torch.nn.Module):
    """Returns (hidden, extra) like older Hugging Face blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(x), "extra"


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4))


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_capture_records_input_and_output():
    model = make_model()
    x = torch.randn(2, 3, 4)
    with capture(model, "2") as seen:
        out = model(x)
    assert seen.calls == 1
    assert torch.equal(seen.output, out)
    assert torch.equal(seen.input, torch.relu(model[0](x)))
    assert hook_count(model) == 0


def test_capture_many_and_unknown_module():
    model = make_model()
    with capture_many(model, ["0", "2"], inputs=False) as seen:
        model(torch.randn(1, 2, 4))
    assert seen["0"].input is None and seen["0"].output.shape == (1, 2, 4)
    with pytest.raises(HookError), capture(model, "nope"):
        pass
    assert get_module(model, "2") is model[2]


def test_hooks_removed_after_exception():
    model = make_model()
    vector = torch.zeros(4)
    with pytest.raises(RuntimeError), capture(model, "0"), added_to_output(model, "2", vector, [0], [1]):
        assert hook_count(model) == 2
        raise RuntimeError("boom")
    assert hook_count(model) == 0


def test_added_to_output_touches_only_given_positions_and_passes_gradients():
    model = make_model()
    x = torch.randn(2, 3, 4)
    before = model(x)
    vector = torch.ones(4, requires_grad=True)
    with added_to_output(model, "2", vector, rows=[0, 1], positions=[2, 0]):
        after = model(x)
    changed = (after - before).abs().sum(-1) > 0
    assert changed.tolist() == [[False, False, True], [True, False, False]]
    assert torch.allclose(after[0, 2] - before[0, 2], torch.ones(4))
    after.sum().backward()
    assert torch.equal(vector.grad, torch.full((4,), 2.0))
    assert hook_count(model) == 0


def test_tuple_outputs_keep_their_other_elements():
    model = TupleOut()
    x = torch.randn(1, 2, 4)
    with added_to_output(model, "", torch.ones(4), [0], [1]), capture(model, "") as seen:
        hidden, extra = model(x)
    assert extra == "extra"
    assert torch.allclose(hidden[0, 1] - model.proj(x)[0, 1], torch.ones(4))
    assert torch.equal(seen.output, hidden)


def test_stop_after_ends_the_forward_after_capture():
    model = make_model()
    with capture(model, "0") as seen, stop_after(model, "0"), pytest.raises(StopForward):
        model(torch.randn(1, 1, 4))
    assert seen.output is not None
    assert hook_count(model) == 0


def test_hooks_removed_on_a_real_model(tiny_lm):
    lm = tiny_lm("gpt2")
    ids = torch.tensor([[1, 2, 3]])
    name = lm.spec.mlp_out_module(1)
    with pytest.raises(ValueError), capture(lm.model, name) as seen:
        lm.model(input_ids=ids)
        raise ValueError("after the forward")
    assert seen.input.shape[-1] == 4 * lm.info.hidden_size
    assert hook_count(lm.model) == 0


def test_low_rank_added_acts_like_the_weight_update():
    model = make_model()
    x = torch.randn(2, 3, 4)
    right = torch.randn(4, 2)
    left = torch.randn(2, 4, requires_grad=True)
    with low_rank_added(model, "2", right, left):
        hooked = model(x)
    assert hook_count(model) == 0
    hooked.sum().backward()
    assert left.grad is not None and left.grad.abs().sum() > 0
    with torch.no_grad():
        model[2].weight += (right @ left).T  # nn.Linear keeps (out, in)
        assert torch.allclose(model(x), hooked, atol=1e-5)
