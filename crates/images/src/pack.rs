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

    // The layer, uncompressed first (its digest is the config's diff_id).
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
    let diff_id = sha256_digest(&layer_tar);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &layer_tar).map_err(io("compressing the layer".into()))?;
    let layer_gz = gz.finish().map_err(io("compressing the layer".into()))?;

    let entrypoint = if entrypoint.is_empty() {
        vec!["/app".to_string()]
    } else {
        entrypoint.to_vec()
    };
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
            entrypoint: Some(entrypoint),
            cmd: None,
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
}
