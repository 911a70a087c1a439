"""What an image reference says about its OS, and which Windows build it was made for.

Only images whose OS is certain are classified, by repository: Microsoft's Windows base images
(and the legacy Docker Hub names) are Windows-only, Microsoft's multi-variant repositories on
mcr.microsoft.com are Windows-only in the tags that name a Windows variant (`8.0-nanoserver-
ltsc2022`), and a short list of Docker Hub official images publish no Windows variant. A tag
elsewhere says nothing (`ghcr.io/x/app:not-nanoserver` is anybody's image), and neither do
multi-OS images like pause or agnhost.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .memo import short_key_cache

# Longer than any real reference (a repository of 255 characters, a 128-character tag, a
# digest): such an image is classified but not cached.
IMAGE_KEY_CHARS = 512

# Repository names (registry included, tag and digest excluded) of Windows-only images.
_WINDOWS_REPOS = re.compile(
    r"""^(?:
        mcr\.microsoft\.com/windows(?:/(?:servercore|nanoserver|server))?(?:/[a-z0-9._-]+)*
      | mcr\.microsoft\.com/dotnet/framework/[a-z0-9._/-]+
      | (?:docker\.io/)?microsoft/(?:windowsservercore|nanoserver|iis|aspnet|dotnet-framework)
    )$""",
    re.VERBOSE,
)

# Docker Hub official images that ship Linux variants only.
_LINUX_REPOS = re.compile(
    r"^(?:docker\.io/)?(?:library/)?"
    r"(?:alpine|ubuntu|debian|centos|fedora|busybox|nginx|redis|postgres|mysql|"
    r"mariadb|memcached|rabbitmq|httpd|haproxy|archlinux|rockylinux|almalinux|amazonlinux)$"
)

# In a repository on Microsoft's registry, a tag naming a Windows variant as a whole component.
_MCR = "mcr.microsoft.com/"
_WINDOWS_VARIANT_TAG = re.compile(r"(?:^|[-_.])(nanoserver|windowsservercore)(?=$|[-_.])")

# Tag fragments that name a Windows release, mapped to its build (node.kubernetes.io/windows-build).
WINDOWS_BUILDS: dict[str, str] = {
    "ltsc2019": "10.0.17763",
    "1809": "10.0.17763",
    "ltsc2022": "10.0.20348",
    "ltsc2025": "10.0.26100",
    "1903": "10.0.18362",
    "1909": "10.0.18363",
    "2004": "10.0.19041",
    "20h2": "10.0.19042",
    "1803": "10.0.17134",
    "1709": "10.0.16299",
}
_BUILD_TAG_RE = re.compile(r"(?:^|[-_.])(" + "|".join(WINDOWS_BUILDS) + r")(?=$|[-_.])")


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class ImageRef:
    repository: str
    tag: str


def split_image(image: str) -> ImageRef:
    ref = image.strip().lower()
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ImageRef(ref[:colon], ref[colon + 1 :])
    return ImageRef(ref, "")


class ImageClassifier:
    """Built once from the config's extra patterns (shell-style globs on the whole reference)."""

    def __init__(self, windows_patterns: Iterable[str] = (), linux_patterns: Iterable[str] = ()):
        self._extra_windows = _compile_globs(windows_patterns)
        self._extra_linux = _compile_globs(linux_patterns)
        self._cache: dict[str, str | None] = {}

    def os_of(self, image: str) -> str | None:
        """'windows', 'linux' or None (unknown or multi-OS)."""
        cached = self._cache.get(image, "?")
        if cached != "?":
            return cached
        result = self._classify(image)
        if len(self._cache) < 10_000 and len(image) <= IMAGE_KEY_CHARS:
            self._cache[image] = result
        return result

    def _classify(self, image: str) -> str | None:
        lowered = image.strip().lower()
        if self._extra_windows and self._extra_windows.match(lowered):
            return "windows"
        if self._extra_linux and self._extra_linux.match(lowered):
            return "linux"
        ref = split_image(lowered)
        if _WINDOWS_REPOS.match(ref.repository) or _WINDOWS_REPOS.match(lowered):
            return "windows"
        if _LINUX_REPOS.match(ref.repository):
            return "linux"
        if ref.repository.startswith(_MCR) and _WINDOWS_VARIANT_TAG.search(ref.tag):
            return "windows"
        return None


@short_key_cache(4096, IMAGE_KEY_CHARS)  # a cluster runs few distinct images; pods repeat them
def windows_build_of(image: str) -> str | None:
    """The Windows build an image's tag names (ltsc2022 -> 10.0.20348), or None."""
    tag = split_image(image).tag
    match = _BUILD_TAG_RE.search(tag)
    return WINDOWS_BUILDS[match.group(1)] if match else None


def _compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(p.strip().lower()) for p in patterns if p.strip()]
    return re.compile("|".join(parts)) if parts else None


@short_key_cache(4096, IMAGE_KEY_CHARS)  # a cluster runs few distinct images; pods repeat them
def default_user_of(image: str) -> str | None:
    """The user a Windows base image runs as when nothing sets runAsUserName: Nano Server images
    run as ContainerUser, Server Core and Server as ContainerAdministrator; None: not known."""
    ref = split_image(image)
    if ref.repository.endswith("/nanoserver") or ref.repository == "microsoft/nanoserver":
        return "ContainerUser"
    if ref.repository.startswith(_MCR):
        variant = _WINDOWS_VARIANT_TAG.search(ref.tag)
        if variant is not None:
            return "ContainerUser" if variant.group(1) == "nanoserver" else "ContainerAdministrator"
    if _WINDOWS_REPOS.match(ref.repository):
        return "ContainerAdministrator"
    return None
