"""Before the window opens: can Qt's xcb platform plugin load on this machine?

Qt aborts with a terse message when a system library its X11 plugin needs is missing
(and since Qt 6.5 names only libxcb-cursor0, even when others are the ones missing).
``check_display()`` finds the plugin (PySide6's ``plugins/platforms/libqxcb.so``), asks
``ldd`` which of its shared libraries are "not found", tries libxcb-cursor (which Qt
opens at run time, so ldd cannot see it), maps the missing libraries to the packages of
the user's distribution (apt, dnf or pacman, from /etc/os-release) and returns one clear
message with the command that installs them. Imports nothing from Qt's GUI modules.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

# library soname -> package on (Debian/Ubuntu, Fedora/RHEL, Arch)
LIBRARY_PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
}

# family -> (index in LIBRARY_PACKAGES' tuples, install command, distribution names)
FAMILIES: dict[str, tuple[int, str, str]] = {
    "apt": (0, "sudo apt-get install", "Debian/Ubuntu"),
    "dnf": (1, "sudo dnf install", "Fedora/RHEL"),
    "pacman": (2, "sudo pacman -S --needed", "Arch"),
}
_FAMILY_OF_ID = {"debian": "apt", "ubuntu": "apt", "linuxmint": "apt", "pop": "apt", "raspbian": "apt",
                 "fedora": "dnf", "rhel": "dnf", "centos": "dnf", "rocky": "dnf", "almalinux": "dnf",
                 "arch": "pacman", "manjaro": "pacman", "endeavouros": "pacman"}
NON_XCB_PLATFORMS = ("offscreen", "minimal", "wayland", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            fields[key.strip()] = " ".join(shlex.split(value)) if value.strip() else ""
    return fields


def package_family(os_release: dict[str, str]) -> str | None:
    """apt, dnf or pacman for the distribution (or the one it is like), else None."""
    ids = [os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()]
    for ident in ids:
        if ident.lower() in _FAMILY_OF_ID:
            return _FAMILY_OF_ID[ident.lower()]
    return None


def missing_from_ldd(output: str) -> list[str]:
    """The sonames ldd reports as "not found", each once, in order."""
    found = re.findall(r"^\s*(\S+)\s+=>\s+not found", output, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def install_command(libraries: list[str], family: str) -> tuple[str, list[str]]:
    """The install command for the libraries on the family, and the libraries no package is known for."""
    index, command, _ = FAMILIES[family]
    packages = [LIBRARY_PACKAGES[lib][index] for lib in libraries if lib in LIBRARY_PACKAGES]
    unknown = [lib for lib in libraries if lib not in LIBRARY_PACKAGES]
    return (f"{command} {' '.join(dict.fromkeys(packages))}" if packages else ""), unknown


def missing_libraries_message(libraries: list[str], family: str | None, plugin: Path | None = None) -> str:
    """The one message shown instead of Qt's abort: what is missing and how to install it."""
    where = f" ({plugin})" if plugin else ""
    lines = ["Factsmith cannot open its window: Qt's X11 (xcb) platform plugin" + where,
             "needs system libraries that are not installed: " + ", ".join(libraries) + "."]
    families = [family] if family else list(FAMILIES)
    lines.append("Install them with:" if family else "Install them with your distribution's package manager:")
    unknown: list[str] = []
    for name in families:
        command, unknown = install_command(libraries, name)
        if command:
            lines.append(f"  {command}" + ("" if family else f"    # {FAMILIES[name][2]}"))
    if unknown:
        lines.append("No package is known here for " + ", ".join(unknown) + "; search your distribution for it.")
    lines.append("then start Factsmith again (or run headless with QT_QPA_PLATFORM=offscreen).")
    return "\n".join(lines)


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, wherever PySide6 is installed (a venv or a bundle)."""
    try:
        import PySide6
    except ImportError:
        return None
    base = Path(PySide6.__file__).resolve().parent
    for candidate in (base / "Qt" / "plugins" / "platforms" / "libqxcb.so",
                      base / "plugins" / "platforms" / "libqxcb.so"):
        if candidate.is_file():
            return candidate
    return None


def run_ldd(path: Path) -> str:
    try:
        return subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""  # no ldd (e.g. musl without it): nothing to report, Qt speaks for itself


def library_loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(plugin: Path, ldd=None, loads=None) -> list[str]:
    """Libraries the plugin links to that are not found, plus libxcb-cursor (loaded at run time)."""
    ldd, loads = ldd or run_ldd, loads or library_loads
    missing = missing_from_ldd(ldd(plugin))
    if "libxcb-cursor.so.0" not in missing and not loads("libxcb-cursor.so.0"):
        missing.append("libxcb-cursor.so.0")
    return missing


def wants_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Will Qt try the xcb plugin? Only on Linux, and not when another platform is asked for."""
    if not platform.startswith("linux"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if requested:
        return requested == "xcb"
    return not environ.get("WAYLAND_DISPLAY")  # a Wayland session uses Qt's wayland plugin first


def read_os_release() -> dict[str, str]:
    for path in (Path("/etc/os-release"), Path("/usr/lib/os-release")):
        if path.is_file():
            return parse_os_release(path.read_text(errors="replace"))
    return {}


def check_display(environ=os.environ) -> str | None:
    """None when the window can open; else the message to print before exiting non-zero."""
    if not wants_xcb(environ):
        return None
    plugin = xcb_plugin()
    if plugin is not None:
        missing = missing_xcb_libraries(plugin)
        if missing:
            return missing_libraries_message(missing, package_family(read_os_release()), plugin)
    if not environ.get("DISPLAY"):
        return ("Factsmith cannot open its window: no X display (DISPLAY is not set).\n"
                "Start it from your desktop session, or headless under `xvfb-run -a factsmith ...`.")
    return None
