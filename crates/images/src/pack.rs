//! Packing one binary into a runnable OCI image (an OCI image layout tarball), which is
//! how skiff builds its own sample image without Docker.

use std::collections::BTreeMap;
use std::path::Path;

use crate::oci::{
    sha256_digest, Descriptor, ImageConfigFile, Manifest, RootFs, RunConfig, CONTAINERD_NAME,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, REF_NAME,
};
use crate::{ImageError, ImageRef, Result};

fn io(context: String) -> impl FnOnce(std::io::Error) -> ImageError {
    move |source| ImageError::Io { context, source }
}

fn append(
    b: &mut tar::Builder<impl std::io::Write>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, path, data)
}

/// Builds an OCI image layout tarball holding one image: a single gzip layer with the
/// binary at `/app` (mode 0755), a minimal `/etc/passwd` and `/etc/group` (root and
/// nobody) and a world-writable `/tmp`; config `Entrypoint` = `entrypoint` (default
/// `["/app"]`), `Env` = `env` (`K=V`, a default `PATH` is added), linux/amd64. `name`
/// (e.g. `dev.local/hello:latest`) goes in the index annotations. The output is
/// deterministic: same binary, same digest.
pub fn pack_binary(
    binary: &Path,
    name: &str,
    entrypoint: &[String],
    env: &[String],
) -> Result<Vec<u8>> {
    let image = ImageRef::parse(name)?;
    let bin = std::fs::read(binary).map_err(io(format!("reading {}", binary.display())))?;

    let mut layer_tar = tar::Builder::new(Vec::new());
    let dir = tar::EntryType::Directory;
    let file = tar::EntryType::Regular;
    let passwd = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
    let group = b"root:x:0:\nnogroup:x:65534:\n";
    (|| -> std::io::Result<()> {
        append(&mut layer_tar, "app", file, 0o755, &bin)?;
        append(&mut layer_tar, "etc/", dir, 0o755, &[])?;
        append(&mut layer_tar, "etc/passwd", file, 0o644, passwd)?;
        append(&mut layer_tar, "etc/group", file, 0o644, group)?;
        append(&mut layer_tar, "tmp/", dir, 0o1777, &[])?;
        Ok(())
    })()
    .map_err(io("building the image layer".into()))?;
    let layer_tar = layer_tar
        .into_inner()
        .map_err(io("building the image layer".into()))?;
    let entrypoint = if entrypoint.is_empty() {
        vec!["/app".to_string()]
    } else {
        entrypoint.to_vec()
    };
    layout(&image, &layer_tar, Some(entrypoint), None, env)
}

/// Builds an OCI image layout tarball from a directory tree, as [`pack_binary`] does
/// from one binary: a single gzip layer with everything under `dir` (regular files
/// with their permission bits, directories, symlinks as they are, FIFOs; hard links
/// become separate copies) owned by uid/gid 0, in byte order of the names with mtime 0,
/// so the same tree always gives the same digest. Config: `Entrypoint` = `entrypoint`
/// (none when empty, and then `Cmd` is `["/bin/sh"]` if the tree has one, like the
/// busybox image), `Env` = `env` plus a default `PATH`, linux/amd64; `name` goes in the
/// index annotations. Sockets and device files are refused.
pub fn pack_rootfs(
    dir: &Path,
    name: &str,
    entrypoint: &[String],
    env: &[String],
) -> Result<Vec<u8>> {
    let image = ImageRef::parse(name)?;
    let meta = std::fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?;
    if !meta.is_dir() {
        return Err(ImageError::Io {
            context: format!("packing {}", dir.display()),
            source: std::io::Error::other("not a directory"),
        });
    }
    let mut layer_tar = tar::Builder::new(Vec::new());
    append_tree(&mut layer_tar, dir, Path::new(""))?;
    let layer_tar = layer_tar
        .into_inner()
        .map_err(io("building the image layer".into()))?;
    let (entrypoint, cmd) = if entrypoint.is_empty() {
        let sh = std::fs::symlink_metadata(dir.join("bin/sh")).is_ok();
        (None, sh.then(|| vec!["/bin/sh".to_string()]))
    } else {
        (Some(entrypoint.to_vec()), None)
    };
    layout(&image, &layer_tar, entrypoint, cmd, env)
}

/// Appends the children of `root/rel` to the layer, sorted by name, recursively.
fn append_tree(b: &mut tar::Builder<impl std::io::Write>, root: &Path, rel: &Path) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let here = root.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)
        .map_err(io(format!("reading {}", here.display())))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(io(format!("reading {}", here.display())))?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let err = |source| ImageError::Io {
            context: format!("packing {}", path.display()),
            source,
        };
        let meta = std::fs::symlink_metadata(&path).map_err(err)?;
        let kind = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.permissions().mode() & 0o7777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        if kind.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, &rel, std::io::empty()).map_err(err)?;
            append_tree(b, root, &rel)?;
        } else if kind.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = std::fs::read_link(&path).map_err(err)?;
            b.append_link(&mut h, &rel, target).map_err(err)?;
        } else if kind.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let f = std::fs::File::open(&path).map_err(err)?;
            b.append_data(&mut h, &rel, f).map_err(err)?;
        } else if kind.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            b.append_data(&mut h, &rel, std::io::empty()).map_err(err)?;
        } else {
            return Err(err(std::io::Error::other(
                "sockets and device files cannot be packed into an image",
            )));
        }
    }
    Ok(())
}

/// Wraps one uncompressed layer into an OCI image layout tarball: gzip layer, image
/// config (linux/amd64, `PATH` defaulted), manifest, and an index naming `image`.
fn layout(
    image: &ImageRef,
    layer_tar: &[u8],
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: &[String],
) -> Result<Vec<u8>> {
    let dir = tar::EntryType::Directory;
    let file = tar::EntryType::Regular;
    // The config's diff_id is the digest of the uncompressed layer.
    let diff_id = sha256_digest(layer_tar);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, layer_tar).map_err(io("compressing the layer".into()))?;
    let layer_gz = gz.finish().map_err(io("compressing the layer".into()))?;

    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
    }
    let config = ImageConfigFile {
        architecture: "amd64".into(),
        os: "linux".into(),
        config: Some(RunConfig {
            entrypoint,
            cmd,
            env: Some(env),
            working_dir: Some("/".into()),
            user: None,
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id],
        }),
    };
    let config_bytes = serde_json::to_vec(&config).expect("config serialises");
    let desc = |media_type: &str, bytes: &[u8]| Descriptor {
        media_type: media_type.into(),
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Some(desc(OCI_CONFIG, &config_bytes)),
        layers: Some(vec![desc(OCI_LAYER_GZIP, &layer_gz)]),
        manifests: None,
        annotations: BTreeMap::new(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let mut mdesc = desc(OCI_MANIFEST, &manifest_bytes);
    mdesc.platform = Some(crate::oci::Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    });
    mdesc
        .annotations
        .insert(REF_NAME.into(), image.name_and_tag());
    mdesc
        .annotations
        .insert(CONTAINERD_NAME.into(), image.name_and_tag());
    let index = Manifest {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        config: None,
        layers: None,
        manifests: Some(vec![mdesc]),
        annotations: BTreeMap::new(),
    };
    let index_bytes = serde_json::to_vec(&index).expect("index serialises");

    let mut out = tar::Builder::new(Vec::new());
    (|| -> std::io::Result<()> {
        append(
            &mut out,
            "oci-layout",
            file,
            0o644,
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        append(&mut out, "index.json", file, 0o644, &index_bytes)?;
        append(&mut out, "blobs/", dir, 0o755, &[])?;
        append(&mut out, "blobs/sha256/", dir, 0o755, &[])?;
        for blob in [&manifest_bytes, &config_bytes, &layer_gz] {
            let path = format!(
                "blobs/sha256/{}",
                crate::oci::digest_hex(&sha256_digest(blob))
            );
            append(&mut out, &path, file, 0o644, blob)?;
        }
        Ok(())
    })()
    .map_err(io("writing the OCI layout".into()))?;
    out.into_inner()
        .map_err(io("writing the OCI layout".into()))
}

/// [`pack_binary`], written to `output`; returns the image's manifest digest.
pub fn write_packed_binary(
    binary: &Path,
    name: &str,
    entrypoint: &[String],
    env: &[String],
    output: &Path,
) -> Result<String> {
    let bytes = pack_binary(binary, name, entrypoint, env)?;
    std::fs::write(output, &bytes).map_err(io(format!("writing {}", output.display())))?;
    packed_digest(&bytes)
}

/// The manifest digest inside a packed layout (the first entry of `index.json`).
fn packed_digest(layout_tar: &[u8]) -> Result<String> {
    let mut a = tar::Archive::new(layout_tar);
    for e in a.entries().map_err(io("reading the layout".into()))? {
        let mut e = e.map_err(io("reading the layout".into()))?;
        if e.path()
            .map(|p| p == Path::new("index.json"))
            .unwrap_or(false)
        {
            let idx: Manifest = serde_json::from_reader(&mut e).map_err(|err| ImageError::Io {
                context: "reading index.json".into(),
                source: std::io::Error::other(err),
            })?;
            if let Some(d) = idx.manifests.as_ref().and_then(|m| m.first()) {
                return Ok(d.digest.clone());
            }
        }
    }
    Err(ImageError::Io {
        context: "reading the layout".into(),
        source: std::io::Error::other("no index.json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_is_deterministic_and_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::write(&bin, b"#!/bin/true\n").unwrap();
        let a = pack_binary(&bin, "dev.local/hello", &[], &["TARGET=x".into()]).unwrap();
        let b = pack_binary(&bin, "dev.local/hello", &[], &["TARGET=x".into()]).unwrap();
        assert_eq!(a, b);
        let d = packed_digest(&a).unwrap();
        assert!(d.starts_with("sha256:"));
        let mut names = vec![];
        for e in tar::Archive::new(&a[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert!(names.contains(&"oci-layout".to_string()));
        assert!(names.contains(&format!("blobs/sha256/{}", &d[7..])));
    }

    /// The layer and config of a packed layout.
    fn layer_and_config(layout: &[u8]) -> (Vec<u8>, ImageConfigFile) {
        let mut blobs = BTreeMap::new();
        let mut index = None;
        for e in tar::Archive::new(layout).entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            if p == "index.json" {
                index = Some(serde_json::from_slice::<Manifest>(&bytes).unwrap());
            } else if let Some(h) = p.strip_prefix("blobs/sha256/") {
                blobs.insert(format!("sha256:{h}"), bytes);
            }
        }
        let index = index.unwrap();
        let m: Manifest =
            serde_json::from_slice(&blobs[&index.manifests.unwrap()[0].digest]).unwrap();
        let config = serde_json::from_slice(&blobs[&m.config.unwrap().digest]).unwrap();
        let gz = &blobs[&m.layers.unwrap()[0].digest];
        let mut layer = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut layer).unwrap();
        (layer, config)
    }

    fn make_tree(root: &Path) {
        use std::os::unix::fs::{symlink, PermissionsExt};
        for d in ["bin", "etc", "tmp", "usr/lib/deep/er"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("bin/busybox"), b"\x7fELF fake").unwrap();
        std::fs::set_permissions(root.join("bin/busybox"), PermissionsExt::from_mode(0o755))
            .unwrap();
        symlink("/bin/busybox", root.join("bin/sh")).unwrap();
        symlink("busybox", root.join("bin/ls")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("etc/passwd"), PermissionsExt::from_mode(0o600))
            .unwrap();
        std::fs::set_permissions(root.join("tmp"), PermissionsExt::from_mode(0o1777)).unwrap();
        std::fs::write(root.join("usr/lib/deep/er/x.so"), vec![7u8; 100_000]).unwrap();
        let long = "n".repeat(120);
        std::fs::write(root.join("usr/lib").join(&long), b"long name").unwrap();
    }

    #[test]
    fn pack_rootfs_is_deterministic_and_faithful() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        make_tree(a.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        make_tree(b.path());
        let env = ["FOO=bar".to_string()];
        let pa = pack_rootfs(a.path(), "dev.local/tree:v1", &[], &env).unwrap();
        let pb = pack_rootfs(b.path(), "dev.local/tree:v1", &[], &env).unwrap();
        assert_eq!(pa, pb, "same tree elsewhere, other mtimes: same bytes");
        // The name is only in the index: the image (manifest) digest stays.
        let other = pack_rootfs(a.path(), "dev.local/tree:v2", &[], &env).unwrap();
        assert_ne!(pa, other);
        assert_eq!(packed_digest(&pa).unwrap(), packed_digest(&other).unwrap());
        // Content and modes are part of it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            b.path().join("etc/passwd"),
            PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        let changed = pack_rootfs(b.path(), "dev.local/tree:v1", &[], &env).unwrap();
        assert_ne!(
            packed_digest(&pa).unwrap(),
            packed_digest(&changed).unwrap()
        );
        std::fs::set_permissions(
            b.path().join("etc/passwd"),
            PermissionsExt::from_mode(0o600),
        )
        .unwrap();

        let (layer, config) = layer_and_config(&pa);
        let rc = config.config.unwrap();
        assert_eq!(rc.entrypoint, None);
        assert_eq!(rc.cmd, Some(vec!["/bin/sh".to_string()]));
        let env = rc.env.unwrap();
        assert!(
            env[0].starts_with("PATH=") && env[1] == "FOO=bar",
            "{env:?}"
        );

        let mut seen = Vec::new();
        for e in tar::Archive::new(&layer[..]).entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(
                (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
                (0, 0, 0)
            );
            let path = e.path().unwrap().display().to_string();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            seen.push((path, h.entry_type(), h.mode().unwrap(), link));
        }
        let find = |p: &str| {
            seen.iter()
                .find(|s| s.0 == p)
                .unwrap_or_else(|| panic!("{p} missing: {seen:?}"))
        };
        assert_eq!(find("bin/busybox").2, 0o755);
        assert_eq!(find("etc/passwd").2, 0o600);
        assert_eq!(find("tmp").1, tar::EntryType::Directory);
        assert_eq!(find("tmp").2, 0o1777);
        assert_eq!(find("bin/sh").1, tar::EntryType::Symlink);
        assert_eq!(find("bin/sh").3.as_deref(), Some("/bin/busybox"));
        assert_eq!(find("bin/ls").3.as_deref(), Some("busybox"));
        find("usr/lib/deep/er/x.so");
        find(&format!("usr/lib/{}", "n".repeat(120)));
        // Parents before children, names in byte order.
        let paths: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        let pos = |p: &str| paths.iter().position(|x| *x == p).unwrap();
        assert!(pos("bin") < pos("bin/busybox"));
        assert!(pos("bin/busybox") < pos("bin/ls") && pos("bin/ls") < pos("bin/sh"));
        assert!(pos("bin/sh") < pos("etc"));

        // An explicit entrypoint replaces the default Cmd.
        let ep = ["/bin/busybox".to_string(), "echo".to_string()];
        let (_, config) = layer_and_config(&pack_rootfs(a.path(), "x", &ep, &[]).unwrap());
        let rc = config.config.unwrap();
        assert_eq!(rc.entrypoint.as_deref(), Some(&ep[..]));
        assert_eq!(rc.cmd, None);
    }

    #[test]
    fn pack_rootfs_refuses_what_it_cannot_pack() {
        let t = tempfile::tempdir().unwrap();
        let err = pack_rootfs(&t.path().join("nope"), "x", &[], &[]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        std::fs::write(t.path().join("f"), b"").unwrap();
        let err = pack_rootfs(&t.path().join("f"), "x", &[], &[]).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let _sock = std::os::unix::net::UnixListener::bind(t.path().join("sock")).unwrap();
        let err = pack_rootfs(t.path(), "x", &[], &[]).unwrap_err();
        assert!(err.to_string().contains("sock"), "{err}");
        let err = pack_rootfs(t.path(), "Bad Name", &[], &[]).unwrap_err();
        assert!(matches!(err, ImageError::InvalidReference { .. }), "{err}");
    }

    #[tokio::test]
    async fn packed_tree_imports_and_unpacks() {
        let src = tempfile::tempdir().unwrap();
        make_tree(src.path());
        let out = tempfile::tempdir().unwrap();
        let file = out.path().join("tree.tar");
        let digest = {
            let bytes = pack_rootfs(src.path(), "dev.local/tree:v1", &[], &[]).unwrap();
            std::fs::write(&file, &bytes).unwrap();
            packed_digest(&bytes).unwrap()
        };
        let store = crate::ImageStore::open(out.path().join("store")).unwrap();
        let imported = store.import_archive(&file).unwrap();
        assert_eq!(imported[0].name, "dev.local/tree:v1");
        assert_eq!(imported[0].digest, digest);
        let img = store
            .pull("dev.local/tree:v1", &crate::Auth::Anonymous)
            .await
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        let root = &img.rootfs;
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let mode = |p: &str| {
            std::fs::symlink_metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("bin/busybox"), 0o755);
        assert_eq!(mode("tmp"), 0o1777);
        assert_eq!(
            std::fs::read(root.join("usr/lib/deep/er/x.so"))
                .unwrap()
                .len(),
            100_000
        );
        assert_eq!(img.cmd, vec!["/bin/sh".to_string()]);
    }
}
