#!/bin/bash
# The project's VM harness: runs a command as root inside a throw-away QEMU
# VM booting Debian's stock kernel (kprobes, kprobe_multi, fentry: what the
# development machines lack), with the host's / visible read-only (9p, with a
# tmpfs overlay so the guest can write). One boot per command: batch checks.
# Installs what it needs (qemu, xz) through apt; the kernel package and
# busybox are downloaded once into the cache.
#
#   usage: run-in-vm.sh CMD [ARGS...]        exit code = CMD's exit code
#
# Env:
#   RUN_IN_VM_CACHE   cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/bpfscope-vm)
#   RUN_IN_VM_KPKG    kernel package (default: what linux-image-amd64 depends on)
#   RUN_IN_VM_ACCEL   auto|kvm|tcg (default auto: kvm if a probe boot works, else tcg)
#   RUN_IN_VM_MEM     guest RAM (default 2G)       RUN_IN_VM_SMP  vCPUs (default nproc)
#   RUN_IN_VM_TIMEOUT seconds before the VM is killed (default 600)
#   RUN_IN_VM_VERBOSE=1 print the guest console (kernel log) on stderr after the run
#   RUN_IN_VM_APPEND  extra kernel command line
# The command runs via /bin/sh in $PWD with the caller's exported env; stdin is /dev/null;
# its stdout/stderr are streamed back separately (virtio-serial ports).
# Exit codes besides the command's own: 124 timeout, 125 VM/infrastructure failure.
set -euo pipefail

CACHE=${RUN_IN_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpfscope-vm}
MEM=${RUN_IN_VM_MEM:-2G}
SMP=${RUN_IN_VM_SMP:-$(nproc)}
TIMEOUT=${RUN_IN_VM_TIMEOUT:-600}
ACCEL=${RUN_IN_VM_ACCEL:-auto}
VERBOSE=${RUN_IN_VM_VERBOSE:-0}
# modules needed to mount the host root (Debian builds these as =m)
WANT_MODS="virtio_pci 9pnet_virtio 9p overlay virtio_console"

log() { echo "run-in-vm: $*" >&2; }
die() { log "$*"; exit 125; }
[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 125; }
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null \
    || die "cannot install ${need[*]}"
fi
mkdir -p "$CACHE"

# ---------------------------------------------------------------- assets
prepare() {
  local kpkg dl ex
  kpkg=${RUN_IN_VM_KPKG:-}
  # The newest stock kernel the archive has (6.12 with kprobe_multi and
  # uprobe_multi, where the archive carries it), else the default one.
  if [ -z "$kpkg" ]; then
    kpkg=$(apt-cache search --names-only '^linux-image-[0-9][0-9.+a-z-]*-amd64$' 2>/dev/null | awk '{print $1}' \
      | grep -v -e cloud -e '-rt-' -e dbg | sort -V | tail -1 || true)
  fi
  if [ -z "$kpkg" ]; then
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$kpkg" ]; then apt-get update -qq >&2 || true
      kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); fi
    [ -n "$kpkg" ] || die "cannot resolve the kernel package behind linux-image-amd64"
  fi
  ASSETS=$CACHE/$kpkg
  # The assets are rebuilt when this script (which writes the init) changes.
  stamp=$(sha1sum "$0" | cut -c1-16)
  [ "$(cat "$ASSETS/ready" 2>/dev/null)" = "$stamp" ] && return 0
  log "preparing $ASSETS (one-off)"
  rm -rf "$ASSETS"; mkdir -p "$ASSETS"
  dl=$(mktemp -d "$CACHE/dl.XXXXXX"); chmod 755 "$dl"
  ( cd "$dl" && apt-get -q -o APT::Sandbox::User=root download "$kpkg" busybox-static >&2 ) \
    || die "apt-get download $kpkg busybox-static failed"
  ex=$dl/x; mkdir -p "$ex/k" "$ex/bb"
  dpkg-deb -x "$dl"/linux-image-*.deb "$ex/k"
  dpkg-deb -x "$dl"/busybox-static_*.deb "$ex/bb"
  cp "$ex"/k/boot/vmlinuz-* "$ASSETS/vmlinuz"
  # Uncompressed ELF vmlinux boots via PVH: skips ~2.5 s of xz decompression under TCG.
  local off
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$ASSETS/vmlinuz" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ] && xz -dc --single-stream < <(tail -c +$((off + 1)) "$ASSETS/vmlinuz") > "$ASSETS/vmlinux" 2>/dev/null \
     && [ "$(head -c 4 "$ASSETS/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]; then :
  else log "could not extract an ELF vmlinux (need xz); booting the bzImage"; rm -f "$ASSETS/vmlinux"; fi
  cp "$ex"/k/boot/config-* "$ASSETS/config"

  # initramfs: busybox + the needed modules in dependency order + /init
  local ir=$ex/initramfs moddir order=() seen=" "
  moddir=$(echo "$ex"/k/lib/modules/*)
  mkdir -p "$ir"/{bin,proc,sys,dev,lower,ovl,newroot,mod}
  cp "$ex/bb/bin/busybox" "$ir/bin/busybox"
  add_mod() {   # resolve "depends=" from .modinfo recursively
    local m=$1 f d
    case "$seen" in *" $m "*) return;; esac; seen="$seen$m "
    f=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
    if [ -z "$f" ]; then grep -q "/$m.ko" "$moddir/modules.builtin" && return 0; die "module $m not found"; fi
    case "$f" in
      *.ko) cp "$f" "$ir/mod/$m.ko" ;;
      *.ko.xz) xz -dc "$f" > "$ir/mod/$m.ko" ;;
      *.ko.zst) command -v zstd >/dev/null || die "zstd needed for $f"; zstd -dqc "$f" > "$ir/mod/$m.ko" ;;
    esac
    for d in $(tr '\0' '\n' < "$ir/mod/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$d"; done
    order+=("$m")
  }
  for m in $WANT_MODS; do add_mod "$m"; done
  printf '%s\n' "${order[@]}" > "$ir/mod/order"

  cat > "$ir/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /mod/order); do insmod /mod/$m.ko || echo "insmod $m failed"; done
RUN=$(sed -n 's/.*rvm.run=\([^ ]*\).*/\1/p' /proc/cmdline)
fail() { echo "RUN_IN_VM_INIT_FAIL: $*"; poweroff -f; }
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower || fail "9p mount"
mount -t tmpfs -o mode=755 tmpfs /ovl && mkdir -p /ovl/u /ovl/w
if ! mount -t overlay -o lowerdir=/lower,upperdir=/ovl/u,workdir=/ovl/w overlay /newroot; then
  echo "overlay failed, falling back to read-only root"; mount --bind /lower /newroot
fi
R=/newroot
mount --move /proc $R/proc; mount --move /sys $R/sys; mount --move /dev $R/dev
mount -t tmpfs tmpfs $R/run; mkdir -p $R/dev/shm; mount -t tmpfs tmpfs $R/dev/shm
mkdir -p $R/dev/pts; mount -t devpts devpts $R/dev/pts
mount -t tracefs nodev $R/sys/kernel/tracing; mount -t debugfs nodev $R/sys/kernel/debug
mount -t bpf bpf $R/sys/fs/bpf; mount -t cgroup2 none $R/sys/fs/cgroup
mount -t securityfs none $R/sys/kernel/security
ip link set lo up 2>/dev/null; hostname run-in-vm
port() { for d in $R/sys/class/virtio-ports/*; do [ "$(cat $d/name)" = "$1" ] && echo $R/dev/${d##*/}; done; }
OUT=$(port out); ERR=$(port err); RC=$(port rc)
[ -e "$OUT" ] && [ -e "$ERR" ] && [ -e "$RC" ] || fail "virtio ports missing: $(ls $R/sys/class/virtio-ports)"
chroot $R /bin/sh "$RUN/cmd.sh" </dev/null >$OUT 2>$ERR
echo $? > $RC
poweroff -f
EOF
  chmod 755 "$ir/init"
  ( cd "$ir" && find . | "$ir/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 ) > "$ASSETS/initramfs.gz"
  rm -rf "$dl"
  echo "$stamp" > "$ASSETS/ready"
}
prepare
KERNEL=$ASSETS/vmlinuz; [ -f "$ASSETS/vmlinux" ] && KERNEL=$ASSETS/vmlinux

# ---------------------------------------------------------------- run
QPID=""; CATS=(); RUNDIRS=()
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
  for p in "${CATS[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${RUNDIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

new_run() {  # -> $RUN with cmd.sh for "$@"
  RUN=$(mktemp -d "$CACHE/run.XXXXXX"); RUNDIRS+=("$RUN"); chmod 755 "$RUN"
  {
    echo "set +e"
    (set -o posix; export -p) | grep -v -E '^export (PWD|OLDPWD|SHLVL|_|TERM|HOSTNAME|RUN_IN_VM_[A-Z_]*)=' || true
    printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
    printf 'exec'; printf ' %q' "$@"; printf '\n'
  } > "$RUN/cmd.sh"
  : > "$RUN/console.log"; : > "$RUN/rc"
}

run_qemu() {  # $1 accel, $2 timeout(s); uses $RUN; stdout/stderr go to $RUN/out,err
  local cpu=max; [ "$1" = kvm ] && cpu=host
  local q=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
    -machine "q35,accel=$1" -cpu "$cpu" -smp "$SMP" -m "$MEM"
    -kernel "$KERNEL" -initrd "$ASSETS/initramfs.gz"
    -append "console=ttyS0 quiet loglevel=4 panic=-1 ${RUN_IN_VM_APPEND:-} rvm.run=$RUN"
    -serial "file:$RUN/console.log"
    -fsdev "local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap"
    -device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
    -device virtio-serial-pci
    -chardev "file,id=out,path=$RUN/out" -device "virtserialport,chardev=out,name=out,nr=1"
    -chardev "file,id=err,path=$RUN/err" -device "virtserialport,chardev=err,name=err,nr=2"
    -chardev "file,id=rc,path=$RUN/rc" -device "virtserialport,chardev=rc,name=rc,nr=3")
  set +e
  timeout -k 5 "$2" "${q[@]}" 2>"$RUN/qemu.err" </dev/null &
  QPID=$!
  wait "$QPID"; local rc=$?; QPID=""
  if [ "$VERBOSE" = 1 ]; then echo "---- guest console ($1) ----" >&2; cat "$RUN/console.log" >&2; fi
  set -e
  return $rc
}

if [ "$ACCEL" = auto ]; then
  ACCEL=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    if [ -f "$CACHE/kvm-verdict" ]; then ACCEL=$(cat "$CACHE/kvm-verdict")
    else
      # /dev/kvm may exist but be unable to run a stock kernel (e.g. PVM-only
      # kvm, no vmx/svm): probe once with a no-op boot and cache the verdict.
      new_run true
      if (run_qemu kvm 30) 2>/dev/null && [ "$(tr -dc 0-9 < "$RUN/rc")" = 0 ]; then ACCEL=kvm
      else log "KVM probe failed: $(tail -c 300 "$RUN/qemu.err" | tr '\n' ' ') -> using TCG"; fi
      echo "$ACCEL" > "$CACHE/kvm-verdict"
    fi
  fi
fi

new_run "$@"
rm -f "$RUN/out" "$RUN/err"; mkfifo "$RUN/out" "$RUN/err"
cat "$RUN/out" & CATS+=($!)
cat "$RUN/err" >&2 & CATS+=($!)
qrc=0; run_qemu "$ACCEL" "$TIMEOUT" || qrc=$?
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then log "timeout after ${TIMEOUT}s"; exit 124; fi
for _ in $(seq 30); do alive=0; for p in "${CATS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.1; done    # readers end when qemu closes the fifos
for p in "${CATS[@]}"; do kill "$p" 2>/dev/null || true; done; CATS=()
rc=$(tr -dc 0-9 < "$RUN/rc")
if [ -n "$rc" ]; then exit "$rc"; fi
log "VM did not report an exit code (qemu rc=$qrc, accel=$ACCEL); qemu stderr and console tail:"
cat "$RUN/qemu.err" >&2 || true; tail -n 30 "$RUN/console.log" >&2 || true
exit 125
