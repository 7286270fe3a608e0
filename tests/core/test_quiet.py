"""Loading and generating print nothing of transformers' own to the console (no "Loading
weights" bar, no false attention-mask warning), and the library's settings are restored."""

import logging

from core.util.quiet import loading_bars_off, padding_warning_muted


def test_the_loading_bar_is_off_while_loading_and_restored_after(tiny_model_dir, capfd):
    from transformers.utils import logging as hf_logging

    from core.model.loading import LoadOptions, load_model

    hf_logging.enable_progress_bar()
    try:
        load_model(tiny_model_dir("gpt2"), LoadOptions(device="cpu"))
        assert "Loading weights" not in capfd.readouterr().err
        assert hf_logging.is_progress_bar_enabled(), "the user's setting is put back"
        with loading_bars_off():
            assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.disable_progress_bar()


def test_only_the_padding_warning_is_muted_and_only_inside(caplog):
    logger = logging.getLogger("transformers.modeling_utils")
    with caplog.at_level(logging.WARNING, logger="transformers.modeling_utils"):
        with padding_warning_muted():
            logger.warning("We strongly recommend passing in an `attention_mask` since your input_ids may be padded")
            logger.warning("something else")
        logger.warning("passing in an `attention_mask` outside")
    assert [r.getMessage() for r in caplog.records] == ["something else", "passing in an `attention_mask` outside"]
