"""First start: missing xcb libraries are named with the install command for the user's distribution."""

from pathlib import Path

from app.platform_check import (
    check_display,
    install_command,
    missing_from_ldd,
    missing_libraries_message,
    missing_xcb_libraries,
    package_family,
    parse_os_release,
    wants_xcb,
)

# What ldd printed for PySide6 6.12's libqxcb.so on a fresh Debian 12 (the issue's machine).
LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd6b5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0c9c800000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0c9c7d0000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c9c400000)
"""

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'
MINT = 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n'
FEDORA = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=41\n'
ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
ARCH = 'NAME="Arch Linux"\nID=arch\n'
MANJARO = 'NAME="Manjaro Linux"\nID=manjaro\nID_LIKE=arch\n'
ALPINE = 'NAME="Alpine Linux"\nID=alpine\n'


def test_ldd_not_found_lines_are_read_once_each_in_order():
    assert missing_from_ldd(LDD_OUTPUT) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_from_ldd("\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n") == []


def test_distribution_family_from_os_release_and_id_like():
    families = {text: package_family(parse_os_release(text))
                for text in (DEBIAN, UBUNTU, MINT, FEDORA, ROCKY, ARCH, MANJARO, ALPINE)}
    assert [families[t] for t in (DEBIAN, UBUNTU, MINT)] == ["apt"] * 3
    assert [families[t] for t in (FEDORA, ROCKY)] == ["dnf"] * 2
    assert [families[t] for t in (ARCH, MANJARO)] == ["pacman"] * 2
    assert families[ALPINE] is None
    assert parse_os_release(MINT)["ID_LIKE"] == "ubuntu debian"


def test_libraries_map_to_each_distributions_packages():
    libs = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0", "libEGL.so.1"]
    assert install_command(libs, "apt") == (
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libegl1", [])
    assert install_command(libs, "dnf") == (
        "sudo dnf install xcb-util-wm xcb-util-keysyms xcb-util-cursor libglvnd-egl", [])
    assert install_command(libs, "pacman") == (
        "sudo pacman -S --needed xcb-util-wm xcb-util-keysyms xcb-util-cursor libglvnd", [])
    # two libraries from one package name it once
    assert install_command(["libxcb-shape.so.0", "libxcb-xinerama.so.0"], "dnf") == ("sudo dnf install libxcb", [])
    assert install_command(["libfoo.so.1"], "apt") == ("", ["libfoo.so.1"])


def test_message_names_the_missing_libraries_and_one_command():
    message = missing_libraries_message(missing_from_ldd(LDD_OUTPUT), "apt", Path("/x/libqxcb.so"))
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "\n  sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in message
    assert "dnf" not in message and "pacman" not in message and "/x/libqxcb.so" in message


def test_unknown_distribution_gets_every_command_and_unknown_libraries_are_named():
    message = missing_libraries_message(["libxcb-icccm.so.4", "libweird.so.2"], None)
    for line in ("sudo apt-get install libxcb-icccm4", "sudo dnf install xcb-util-wm",
                 "sudo pacman -S --needed xcb-util-wm"):
        assert line in message
    assert "No package is known here for libweird.so.2" in message


def test_xcb_cursor_is_checked_beside_ldd_since_qt_loads_it_at_run_time():
    plugin = Path("/x/libqxcb.so")
    assert missing_xcb_libraries(plugin, ldd=lambda _: LDD_OUTPUT, loads=lambda _: False) == [
        "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    assert missing_xcb_libraries(plugin, ldd=lambda _: "", loads=lambda _: True) == []


def test_only_an_xcb_start_on_linux_is_checked():
    assert wants_xcb({"DISPLAY": ":0"}, "linux")
    assert wants_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not wants_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not wants_xcb({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not wants_xcb({}, "darwin") and not wants_xcb({}, "win32")
    assert check_display({"QT_QPA_PLATFORM": "offscreen"}) is None


def test_check_display_reports_missing_libraries_then_a_missing_display(monkeypatch):
    import app.platform_check as pc

    monkeypatch.setattr(pc, "xcb_plugin", lambda: Path("/x/libqxcb.so"))
    monkeypatch.setattr(pc, "read_os_release", lambda: parse_os_release(FEDORA))
    monkeypatch.setattr(pc, "run_ldd", lambda _: LDD_OUTPUT)
    monkeypatch.setattr(pc, "library_loads", lambda _: True)
    message = check_display({"DISPLAY": ":0"})
    assert message and "sudo dnf install xcb-util-wm xcb-util-keysyms" in message
    monkeypatch.setattr(pc, "run_ldd", lambda _: "")
    assert check_display({"DISPLAY": ":0"}) is None
    assert "DISPLAY is not set" in check_display({})


def test_launcher_exits_non_zero_with_the_message_before_qt_starts(monkeypatch, capsys):
    import app.launcher as launcher
    import app.platform_check as pc

    monkeypatch.setattr(pc, "check_display", lambda _env: "Factsmith cannot open its window: test")
    assert launcher.main(["--smoke-test"]) == 3
    assert "cannot open its window: test" in capsys.readouterr().err
