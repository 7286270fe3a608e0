"""Trial 34: with FACTSMITH_CONFIG_DIR set, the window's settings (recent models, export folder)
still went to the user's shared settings, and another session's export folder came back."""

from app.launcher import settings_follow_config_dir
from app.settings import AppSettings


def test_settings_live_in_the_config_dir_when_one_is_set(tmp_path):
    assert settings_follow_config_dir({}) is None, "no override: the platform's own settings"
    folder = settings_follow_config_dir({"FACTSMITH_CONFIG_DIR": str(tmp_path / "config")})
    assert folder == tmp_path / "config" / "settings"
    settings = AppSettings()
    settings.add_recent_model("/models/mine")
    settings._q.sync()
    written = list(folder.rglob("*.ini"))
    assert written and "/models/mine" in written[0].read_text()
