//! The node bootstrap against a real system: monerod knows every flag it is
//! given, both units pass `systemd-analyze verify`, the script passes
//! shellcheck, and the script's volume and user steps do what they promise on
//! loop devices and on a copy of /etc (`nodecannon-bootstrap volume|user`):
//! a blank volume is formatted, one DigitalOcean formatted and mounted
//! elsewhere is taken over with its data, a set-up one is left as it is, one
//! holding something else is refused; reserved blocks 0, one mount, one fstab
//! line, the chain owned by uid 3189; the user is made once, a taken id refused.
//!
//! Needs root (losetup, mount, unshare), as CI runs the suite; anywhere else
//! these tests fail and say so. Also `systemd` (systemd-analyze), `shellcheck`,
//! `monero`, e2fsprogs and util-linux.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nodecannon::bootstrap;

use super::bootstrap::{
    BOOT_UNIT, BOOT_UNIT_NAME, MONEROD_UNIT, SCRIPT, WrittenFile, config, monerod_command,
    monerod_flags, operation, parse, run,
};

type Files = std::collections::BTreeMap<String, WrittenFile>;

/// Renders user-data and writes the bootstrap script to `dir`.
fn rendered(dir: &Path, prune: bool) -> (Files, PathBuf) {
    let file = dir.join(format!("user-data-{prune}.yaml"));
    std::fs::write(
        &file,
        bootstrap::render(&config(prune), &operation(0, "ams3")),
    )
    .unwrap();
    let files = parse(&file);
    let script = dir.join(format!("nodecannon-bootstrap-{prune}"));
    std::fs::write(&script, &files[SCRIPT].content).unwrap();
    (files, script)
}

/// `sh -c script` with `args` as $1...; success and stdout+stderr.
fn sh(script: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["-c", script, "sh"];
    all.extend_from_slice(args);
    run("sh", &all, "dash")
}

#[test]
fn monerod_knows_every_flag_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = rendered(dir.path(), true);
    let cmd = monerod_command(&files[MONEROD_UNIT].content);
    let (_, help) = run("monerod", &["--help"], "monero");
    for name in monerod_flags(&cmd).keys() {
        assert!(
            help.contains(&format!("--{name} ")) || help.contains(&format!("--{name}\n")),
            "monerod has no --{name}"
        );
    }
}

/// `systemd-analyze verify` on `units` inside a root holding this host's own
/// units (for the targets they name) and a stub for every command they run
/// (docker and the bootstrap are not on this machine). Its output.
fn verify(dir: &Path, units: &[(&str, &str)]) -> String {
    let root = tempfile::tempdir_in(dir).unwrap();
    let system = root.path().join("usr/lib/systemd");
    std::fs::create_dir_all(&system).unwrap();
    let host = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|d| Path::new(d).join("sysinit.target").exists())
        .expect("this host's systemd units (install systemd)");
    let (ok, out) = run("cp", &["-a", host, system.to_str().unwrap()], "coreutils");
    assert!(ok, "{out}");
    let etc = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&etc).unwrap();
    for (name, content) in units {
        std::fs::write(etc.join(name), content).unwrap();
        let joined = content.replace("\\\n", " ");
        for line in joined.lines().filter(|l| l.starts_with("Exec")) {
            let cmd = line.split_once('=').unwrap().1;
            let bin = cmd.trim_start_matches(['-', '@', '+', '!']);
            let bin = bin.split_whitespace().next().unwrap();
            assert!(
                ["/usr/bin/docker", "/usr/bin/findmnt", "/bin/sh", SCRIPT].contains(&bin),
                "{name} runs {bin}, which the node may not have"
            );
            let stub = root.path().join(bin.trim_start_matches('/'));
            std::fs::create_dir_all(stub.parent().unwrap()).unwrap();
            std::fs::write(&stub, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let root_arg = format!("--root={}", root.path().display());
    let mut args = vec!["verify", root_arg.as_str()];
    args.extend(units.iter().map(|(name, _)| *name));
    let (ok, out) = run("systemd-analyze", &args, "systemd");
    assert!(
        ok || !out.is_empty(),
        "systemd-analyze failed without a word"
    );
    out
}

#[test]
fn both_units_pass_systemd_verify_and_the_script_passes_shellcheck() {
    let dir = tempfile::tempdir().unwrap();
    for prune in [true, false] {
        let (files, script) = rendered(dir.path(), prune);
        let (ok, out) = run(
            "shellcheck",
            &["--shell=sh", "--severity=style", script.to_str().unwrap()],
            "shellcheck",
        );
        assert!(ok, "shellcheck (prune={prune}):\n{out}");
        let units = [
            ("monerod.service", files[MONEROD_UNIT].content.as_str()),
            (BOOT_UNIT_NAME, files[BOOT_UNIT].content.as_str()),
        ];
        let out = verify(dir.path(), &units);
        assert!(
            out.trim().is_empty(),
            "systemd-analyze verify (prune={prune}):\n{out}"
        );
    }
    // The check can fail: a key this systemd does not know is reported (as
    // RestartSteps= would be before systemd 254).
    let (files, _) = rendered(dir.path(), false);
    let bad = files[BOOT_UNIT]
        .content
        .replace("[Service]\n", "[Service]\nNodecannonBogusKey=1\n");
    let out = verify(dir.path(), &[(BOOT_UNIT_NAME, bad.as_str())]);
    assert!(
        out.contains("NodecannonBogusKey"),
        "verify missed a bad key:\n{out}"
    );
}

fn require_root() {
    let (_, id) = run("id", &["-u"], "coreutils");
    assert_eq!(
        id.trim(),
        "0",
        "this test attaches loop devices, mounts them and edits a copy of /etc \
         in its own mount namespace: run it as root (CI does)"
    );
}

/// A loop device on a 64 MiB file, reached through a by-id style link as on
/// a droplet; on drop, unmounted everywhere and detached.
struct Volume {
    dev: String,
    link: PathBuf,
}

impl Volume {
    fn new(dir: &Path, name: &str) -> Volume {
        let file = dir.join(format!("{name}.img"));
        std::fs::File::create(&file)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let (ok, out) = run(
            "losetup",
            &["-f", "--show", file.to_str().unwrap()],
            "mount",
        );
        assert!(ok, "losetup: {out} (does this machine offer loop devices?)");
        let link = dir.join(format!("scsi-0DO_Volume_op-{name}"));
        std::os::unix::fs::symlink(out.trim(), &link).unwrap();
        Volume {
            dev: out.trim().to_string(),
            link,
        }
    }

    /// Where it is mounted now, one line each.
    fn targets(&self) -> String {
        run(
            "findmnt",
            &["-rn", "-S", &self.dev, "-o", "TARGET"],
            "util-linux",
        )
        .1
    }

    fn reserved_blocks(&self) -> u64 {
        let (_, out) = run("tune2fs", &["-l", &self.dev], "e2fsprogs");
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("Reserved block count:"))
            .unwrap_or_else(|| panic!("tune2fs -l {}: {out}", self.dev));
        line.trim().parse().unwrap()
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        for target in self.targets().lines().rev() {
            let _ = run("umount", &[target], "mount");
        }
        let _ = run("losetup", &["-d", &self.dev], "mount");
    }
}

/// One case's files: the volume, where it must end up, a private fstab.
struct Case {
    dir: PathBuf,
    vol: Volume,
    mount: PathBuf,
    fstab: PathBuf,
}

const FSTAB_START: &str = "# /etc/fstab\nUUID=1111-2222 / ext4 errors=remount-ro 0 1\n\
    /swapfile none swap sw,comment=cloudconfig 0 0\n";

impl Case {
    fn new(dir: &Path, name: &str) -> Case {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let fstab = dir.join("fstab");
        std::fs::write(&fstab, FSTAB_START).unwrap();
        Case {
            vol: Volume::new(&dir, name),
            mount: dir.join("monero"),
            fstab,
            dir,
        }
    }

    /// `nodecannon-bootstrap volume` on this case's volume, mount and fstab.
    fn volume_step(&self, script: &Path) -> (bool, String) {
        sh(
            "NODECANNON_DEVICE=$1 NODECANNON_MOUNT=$2 NODECANNON_FSTAB=$3 sh \"$4\" volume",
            &[
                self.vol.link.to_str().unwrap(),
                self.mount.to_str().unwrap(),
                self.fstab.to_str().unwrap(),
                script.to_str().unwrap(),
            ],
        )
    }

    fn ours(&self) -> String {
        format!(
            "{} {} ext4 defaults,nofail,discard,noatime 0 2\n",
            self.vol.link.display(),
            self.mount.display()
        )
    }

    /// Set up as promised: mounted once, at the mount point; no block
    /// reserved; the chain owned by 3189; `fstab` exactly as given.
    fn assert_set_up(&self, fstab: &str) {
        assert_eq!(self.vol.targets(), format!("{}\n", self.mount.display()));
        assert_eq!(self.vol.reserved_blocks(), 0);
        let chain = self.mount.join("bitmonero");
        let meta = std::fs::metadata(&chain).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (3189, 3189),
            "{}",
            chain.display()
        );
        assert_eq!(std::fs::read_to_string(&self.fstab).unwrap(), fstab);
    }
}

#[test]
fn the_volume_step_sets_up_blank_preformatted_and_set_up_volumes_alike() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (_, script) = rendered(dir.path(), false);

    // A blank volume (what nodecannon now creates): formatted, mounted.
    let blank = Case::new(dir.path(), "blank");
    let (ok, out) = blank.volume_step(&script);
    assert!(ok, "blank volume: {out}");
    let fstab = format!("{FSTAB_START}{}", blank.ours());
    blank.assert_set_up(&fstab);
    let (_, label) = run(
        "blkid",
        &["-p", "-s", "LABEL", "-o", "value", &blank.vol.dev],
        "util-linux",
    );
    assert_eq!(label.trim(), "monerod");

    // One DigitalOcean formatted (5 % reserved) and the image mounted at
    // /mnt/<name> with its own fstab line, plus a stale line by UUID: both
    // lines off, unmounted there, its data kept and handed to 3189.
    let pre = Case::new(dir.path(), "pre");
    assert!(run("mkfs.ext4", &["-q", &pre.vol.dev], "e2fsprogs").0);
    let other = pre.dir.join("op_pre");
    std::fs::create_dir(&other).unwrap();
    let (ok, out) = run("mount", &[&pre.vol.dev, other.to_str().unwrap()], "mount");
    assert!(ok, "{out}");
    let data = other.join("bitmonero/lmdb");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("data.mdb"), "the chain so far").unwrap();
    assert!(
        sh(
            "chown -R 1000:1000 \"$1\"",
            &[other.join("bitmonero").to_str().unwrap()]
        )
        .0
    );
    let (_, uuid) = run(
        "blkid",
        &["-p", "-s", "UUID", "-o", "value", &pre.vol.dev],
        "util-linux",
    );
    let theirs = format!(
        "{} {} ext4 defaults,nofail,discard,noatime 0 2\nUUID={} /mnt/old ext4 defaults 0 2\n",
        pre.vol.link.display(),
        other.display(),
        uuid.trim()
    );
    std::fs::write(&pre.fstab, format!("{FSTAB_START}{theirs}")).unwrap();
    assert!(
        pre.vol.reserved_blocks() > 0,
        "mkfs.ext4 reserves 5 % by default"
    );
    let (ok, out) = pre.volume_step(&script);
    assert!(ok, "pre-formatted volume: {out}");
    let off: String = theirs
        .lines()
        .map(|l| format!("#nodecannon-off# {l}\n"))
        .collect();
    let fstab = format!("{FSTAB_START}{off}{}", pre.ours());
    pre.assert_set_up(&fstab);
    let kept = pre.mount.join("bitmonero/lmdb/data.mdb");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "the chain so far");
    let meta = std::fs::metadata(&kept).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (3189, 3189));
    assert!(!other.exists(), "the old mount point is left behind");

    // Set up already (a retry, a reboot): nothing changes, data kept.
    for case in [&blank, &pre] {
        std::fs::write(case.mount.join("bitmonero/marker"), "kept").unwrap();
        let before = std::fs::read_to_string(&case.fstab).unwrap();
        let (ok, out) = case.volume_step(&script);
        assert!(ok, "second run: {out}");
        case.assert_set_up(&before);
        let marker = case.mount.join("bitmonero/marker");
        assert_eq!(std::fs::read_to_string(marker).unwrap(), "kept");
    }

    // Something else on it (here swap): never formatted, never mounted.
    let odd = Case::new(dir.path(), "odd");
    assert!(run("mkswap", &[&odd.vol.dev], "util-linux").0);
    let (ok, out) = odd.volume_step(&script);
    assert!(!ok && out.contains("not ext4"), "{out}");
    assert_eq!(odd.vol.targets(), "");
    let (_, kind) = run(
        "blkid",
        &["-p", "-s", "TYPE", "-o", "value", &odd.vol.dev],
        "util-linux",
    );
    assert_eq!(kind.trim(), "swap");
    assert_eq!(std::fs::read_to_string(&odd.fstab).unwrap(), FSTAB_START);
}

/// Runs `nodecannon-bootstrap user` after `setup` (shell), both in a mount
/// namespace of their own where /etc is a copy: this host's users never change.
fn user_step(dir: &Path, script: &Path, setup: &str) -> (bool, String) {
    let etc = tempfile::tempdir_in(dir).unwrap();
    let (ok, out) = run(
        "cp",
        &["-a", "/etc/.", etc.path().to_str().unwrap()],
        "coreutils",
    );
    assert!(ok, "{out}");
    let inner = format!(
        "mount --bind \"$1\" /etc && {setup} && sh \"$2\" user && sh \"$2\" user; r=$?; \
         getent passwd monerod; getent group monerod; exit $r"
    );
    run(
        "unshare",
        &[
            "-m",
            "sh",
            "-c",
            &inner,
            "sh",
            etc.path().to_str().unwrap(),
            script.to_str().unwrap(),
        ],
        "util-linux",
    )
}

#[test]
fn monerod_gets_its_own_fixed_uid_once_and_a_taken_id_is_refused() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (_, script) = rendered(dir.path(), false);

    let (ok, out) = user_step(dir.path(), &script, "true");
    assert!(ok, "{out}");
    assert!(
        out.contains("monerod:x:3189:3189::/nonexistent:/usr/sbin/nologin\n"),
        "{out}"
    );
    assert!(out.contains("monerod:x:3189:"), "{out}");

    let (ok, out) = user_step(
        dir.path(),
        &script,
        "groupadd -g 3189 monerod && useradd -u 3189 -g 100 someone",
    );
    assert!(
        !ok && out.contains("uid 3189 is taken by user someone"),
        "{out}"
    );
    let (ok, out) = user_step(dir.path(), &script, "groupadd -g 3189 other");
    assert!(
        !ok && out.contains("gid 3189 is taken by group other"),
        "{out}"
    );
    let (ok, out) = user_step(dir.path(), &script, "useradd -u 4000 -U monerod");
    assert!(!ok && out.contains("other than 3189"), "{out}");
}
