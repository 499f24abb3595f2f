#!/usr/bin/env bash
# An emulated Raspberry Pi userland under qemu-user, with this checkout installed in a venv there.
#
# Usage: benchmarks/pi/root.sh pi4|zero [ROOT]    (needs root; default ROOT /var/cache/lenet-deploy/<board>-root)
#   pi4:  Debian bookworm arm64 (what 64-bit Pi OS is built on) on the Pi 4's Cortex-A72,
#         `pip install .[device]`: numpy + LiteRT, no TensorFlow.
#   zero: Debian bookworm armel (ARMv5+, runs on ARMv6) on the Pi Zero/Pi 1's ARM1176, where no LiteRT or
#         tflite-runtime wheel exists: the system's numpy, gcc, and `pip install .` (the C engine's path).
# Then benchmarks/pi/run.sh ROOT CMD... runs CMD inside (in ROOT/work).
#
# Cached: a finished root (marker .lenet-root-ready) is reused, so only the first run pays for debootstrap's
# second stage under emulation; the checkout and the venv are refreshed each time.
# Exit 3: this machine cannot emulate (not root, no qemu-user-static/debootstrap, no binfmt_misc).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
board=${1:?usage: benchmarks/pi/root.sh pi4|zero [ROOT]}
case $board in
  pi4)  arch=arm64 qemu=aarch64 cpu=cortex-a72 packages=python3,python3-venv,gcc,libc6-dev,ca-certificates ;;
  zero) arch=armel qemu=arm cpu=arm1176 packages=python3,python3-venv,python3-numpy,gcc,libc6-dev,ca-certificates ;;
  *) echo "root.sh: unknown board '$board' (pi4 or zero)" >&2; exit 2 ;;
esac
root=${2:-/var/cache/lenet-deploy/$board-root}
cannot() { echo "root.sh: $*" >&2; exit 3; }
# The Debian mirror this machine's apt is configured with (its bookworm suite), unless DEBIAN_MIRROR says otherwise.
mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
  | awk '$2 == "bookworm" { print $1; exit }')}
[ -n "$mirror" ] || { echo "root.sh: no Debian bookworm mirror in apt's configuration (set DEBIAN_MIRROR)" >&2; exit 1; }

[ "$(id -u)" = 0 ] || cannot "needs root (debootstrap, chroot, binfmt_misc)"
if ! command -v debootstrap >/dev/null || [ ! -e "/usr/lib/binfmt.d/qemu-$qemu.conf" ]; then
  command -v apt-get >/dev/null || cannot "no qemu-user-static and debootstrap, and no apt-get to install them"
  # apt is here: a failure to install is a failure (exit 1, apt's words), not a machine that cannot emulate.
  log=$(mktemp)
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static debootstrap; } \
    >"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "root.sh: installing qemu-user-static and debootstrap failed" >&2; exit 1; }
  rm -f "$log"
fi
# Foreign binaries run through qemu-user only if binfmt_misc knows them (containers often start without it).
binfmt=/proc/sys/fs/binfmt_misc
[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null \
  || cannot "cannot mount binfmt_misc (an unprivileged container?)"
[ -e "$binfmt/qemu-$qemu" ] || cat "/usr/lib/binfmt.d/qemu-$qemu.conf" > "$binfmt/register" \
  || cannot "cannot register qemu-$qemu with binfmt_misc"

export QEMU_CPU=$cpu  # the board's own core (the default "max" advertises SME: LiteRT's int8 kernels go wrong)
if [ ! -e "$root/.lenet-root-ready" ]; then
  started=$(date +%s)
  rm -rf "$root" && mkdir -p "$root"
  debootstrap --foreign --arch="$arch" --variant=minbase --include="$packages" bookworm "$root" "$mirror"
  chroot "$root" /debootstrap/debootstrap --second-stage
  touch "$root/.lenet-root-ready"
  echo "root.sh: built $root in $(( $(date +%s) - started )) s"
fi
echo "$cpu" > "$root/etc/qemu-cpu"                                 # which core run.sh emulates
cp "$here/benchmarks/pi/cpuinfo-$board" "$root/etc/pi-cpuinfo"  # what LiteRT and platform_info read (run.sh)

# This checkout, copied in (a bind mount would leave the venv pointing at a host path).
rm -rf "$root/opt/lenet-deploy" && mkdir -p "$root/opt/lenet-deploy"
tar -C "$here" --exclude=.git --exclude=./runs --exclude=./build --exclude=./reports --exclude='*.egg-info' \
  -cf - . | tar -C "$root/opt/lenet-deploy" -xf -
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca.crt"  # pip in the foreign root trusts the host's CAs
if [ "$board" = pi4 ]; then
  venv="python3 -m venv /opt/venv" target='/opt/lenet-deploy[device]'
else
  venv="python3 -m venv --system-site-packages /opt/venv" target=/opt/lenet-deploy
fi
"$here/benchmarks/pi/run.sh" "$root" sh -c "[ -x /opt/venv/bin/pip ] || $venv
  PIP_CERT=/etc/host-ca.crt /opt/venv/bin/pip install -q --disable-pip-version-check '$target'"
echo "root.sh: $root ready: $("$here/benchmarks/pi/run.sh" "$root" python -c 'import platform; print(platform.machine(), platform.python_version())')"
