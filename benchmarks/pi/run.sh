#!/usr/bin/env bash
# Run a command in an emulated Pi root that benchmarks/pi/root.sh built, with its venv on PATH.
# Usage: benchmarks/pi/run.sh ROOT CMD [ARGS...]   (runs in ROOT/work: put data and models there)
set -euo pipefail
root=$1; shift
cpu=$(cat "$root/etc/qemu-cpu")  # the board's own core, as root.sh chose it
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
if ! mountpoint -q "$root/proc"; then mount -t proc proc "$root/proc"; mounted=("$root/proc"); fi
# LiteRT reads /proc/cpuinfo (and crashes on the x86 host's); platform_info takes the board's name from it.
mount --bind "$root/etc/pi-cpuinfo" "$root/proc/cpuinfo"; mounted=("$root/proc/cpuinfo" "${mounted[@]}")
mkdir -p "$root/work"
QEMU_CPU=$cpu chroot "$root" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  QEMU_CPU="$cpu" sh -c 'cd /work && exec "$@"' sh "$@"
