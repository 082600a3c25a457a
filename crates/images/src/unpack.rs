//! Applying layer tarballs to a root filesystem, in order, with OCI whiteouts:
//! `.wh.<name>` deletes `<name>` from lower layers, `.wh..wh..opq` empties its
//! directory of lower-layer content.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Opens a layer blob, detecting gzip / zstd / plain tar by its magic bytes.
fn open_layer(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    let f = BufReader::new(f);
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(f)))
    } else if n >= 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Err(std::io::Error::other(
            "zstd-compressed layers are not supported",
        ))
    } else {
        Ok(Box::new(f))
    }
}

/// A layer path made relative and safe (no `..`, no root): `None` for the root itself.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Removes a file, symlink or directory tree if it exists.
fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Resolves `rel` inside `root` the way a chroot would: symlinks are followed, but an
/// absolute target or `..` never leaves `root`. Returns the real path relative to
/// `root` (components that do not exist yet are kept as they are). Images rely on this
/// for merged-/usr layouts (`lib -> usr/lib`), and it keeps hostile layers from writing
/// outside the rootfs through a symlink.
pub(crate) fn resolve_in_root(root: &Path, rel: &Path) -> PathBuf {
    fn parts(p: &Path) -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }
    let mut todo = parts(rel);
    let mut out = PathBuf::new();
    let mut links = 0;
    while let Some(p) = todo.pop_front() {
        if p == ".." {
            out.pop();
            continue;
        }
        let cand = out.join(&p);
        let full = root.join(&cand);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() && links < 40 => {
                links += 1;
                let Ok(target) = fs::read_link(&full) else {
                    out = cand;
                    continue;
                };
                if target.is_absolute() {
                    out = PathBuf::new();
                }
                let mut next = parts(&target);
                next.extend(todo);
                todo = next;
            }
            _ => out = cand,
        }
    }
    out
}

/// Where an entry at `rel` goes: its parent resolved inside `root`, its own name kept
/// (a symlink entry replaces an existing symlink rather than following it).
fn entry_dest(root: &Path, rel: &Path) -> PathBuf {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().unwrap_or_default();
    root.join(resolve_in_root(root, parent)).join(name)
}

/// Applies one layer (gzip or plain tar file) on top of `root`.
///
/// Two passes: first the layer's whiteouts delete from the lower layers already in
/// `root` (so an opaque marker never hides entries of its own layer, whatever their
/// order in the tar), then every other entry is extracted.
pub fn apply_layer(root: &Path, layer: &Path) -> std::io::Result<()> {
    // Pass 1: whiteouts.
    let mut archive = tar::Archive::new(open_layer(layer)?);
    for entry in archive.entries()? {
        let entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(rel) = clean(&path) else { continue };
        let Some(name) = rel.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        let parent = root.join(resolve_in_root(root, parent));
        if name == ".wh..wh..opq" {
            let dir = parent;
            if let Ok(rd) = fs::read_dir(&dir) {
                for child in rd {
                    remove_any(&child?.path())?;
                }
            }
        } else if let Some(target) = name.strip_prefix(".wh.") {
            remove_any(&parent.join(target))?;
        }
    }
    // Pass 2: content.
    let mut archive = tar::Archive::new(open_layer(layer)?);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    // Keep file owners (so `runAsUser` images work) when we can: only root may chown.
    archive.set_preserve_ownerships(is_root());
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(rel) = clean(&path) else { continue };
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(".wh.") {
            continue;
        }
        let dest = entry_dest(root, &rel);
        if dest == root {
            continue;
        }
        let kind = entry.header().entry_type();
        let is_dir = kind.is_dir();
        // A directory replaces a non-directory and vice versa.
        if let Ok(m) = fs::symlink_metadata(&dest) {
            if m.is_dir() != is_dir {
                remove_any(&dest)?;
            } else if !is_dir {
                fs::remove_file(&dest)?;
            }
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        if kind.is_hard_link() {
            // Link targets are paths inside the image, resolved like any other.
            let target = entry
                .link_name()?
                .and_then(|l| clean(&l))
                .map(|l| root.join(resolve_in_root(root, &l)))
                .ok_or_else(|| std::io::Error::other(format!("bad hard link {}", rel.display())))?;
            fs::hard_link(&target, &dest)?;
        } else {
            entry.unpack(&dest)?;
        }
    }
    Ok(())
}

fn is_root() -> bool {
    // The effective uid, from /proc (no libc dependency for one call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(dir: &Path, name: &str, entries: &[(&str, Option<&[u8]>)]) -> PathBuf {
        let path = dir.join(name);
        let f = File::create(&path).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (p, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            if let Some((link, target)) = p.split_once(" -> ") {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, link, target).unwrap();
                continue;
            }
            match content {
                Some(c) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(c.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append_data(&mut h, p, *c).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    h.set_cksum();
                    b.append_data(&mut h, p, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        let l1 = layer(
            tmp.path(),
            "l1",
            &[
                ("etc", None),
                ("etc/keep", Some(b"k")),
                ("etc/gone", Some(b"g")),
                ("opq", None),
                ("opq/old", Some(b"o")),
                ("dir", None),
                ("dir/sub", Some(b"s")),
            ],
        );
        // The opaque marker comes after a same-layer entry: that entry must survive.
        let l2 = layer(
            tmp.path(),
            "l2",
            &[
                ("etc/.wh.gone", Some(b"")),
                ("opq/new", Some(b"n")),
                ("opq/.wh..wh..opq", Some(b"")),
                ("./.wh.dir", Some(b"")),
                ("etc/keep", Some(b"k2")),
            ],
        );
        apply_layer(&root, &l1).unwrap();
        apply_layer(&root, &l2).unwrap();
        assert_eq!(fs::read(root.join("etc/keep")).unwrap(), b"k2");
        assert!(!root.join("etc/gone").exists());
        assert!(!root.join("etc/.wh.gone").exists());
        assert!(!root.join("opq/old").exists());
        assert_eq!(fs::read(root.join("opq/new")).unwrap(), b"n");
        assert!(!root.join("opq/.wh..wh..opq").exists());
        assert!(!root.join("dir").exists());
    }

    #[test]
    fn symlinked_dirs_are_followed_inside_the_root_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let l1 = layer(
            tmp.path(),
            "l1",
            &[
                ("usr", None),
                ("usr/lib", None),
                ("lib -> usr/lib", None),
                ("etc", None),
                (&format!("evil -> {}", outside.display()), None),
                ("up -> ../../..", None),
            ],
        );
        let l2 = layer(
            tmp.path(),
            "l2",
            &[
                ("lib/libfoo.so", Some(b"foo")),
                ("evil/passwd", Some(b"pwned")),
                ("up/escaped", Some(b"x")),
            ],
        );
        apply_layer(&root, &l1).unwrap();
        apply_layer(&root, &l2).unwrap();
        assert_eq!(fs::read(root.join("usr/lib/libfoo.so")).unwrap(), b"foo");
        assert!(fs::symlink_metadata(root.join("lib"))
            .unwrap()
            .file_type()
            .is_symlink());
        // The absolute symlink resolves inside the root, never to the host path.
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        let inside = root.join(outside.strip_prefix("/").unwrap()).join("passwd");
        assert_eq!(fs::read(inside).unwrap(), b"pwned");
        assert_eq!(fs::read(root.join("escaped")).unwrap(), b"x");
        assert!(!tmp.path().join("escaped").exists());
    }

    #[test]
    fn rejects_parent_escapes() {
        assert_eq!(clean(Path::new("../etc/passwd")), None);
        assert_eq!(clean(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(clean(Path::new("/")), None);
    }
}
