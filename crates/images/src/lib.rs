//! OCI images for the local runtime: reference parsing, tag → digest resolution,
//! pulling from registries over the distribution API, a content-addressed blob cache,
//! rootfs unpacking (once per manifest digest), importing OCI-layout / docker-archive
//! tarballs, packing a single binary or a directory tree into an image without Docker,
//! and registry mirrors (containerd's `hosts.toml`) for air-gapped machines.
//!
//! Layout under the store root (`DATA_DIR/images`):
//! ```text
//! blobs/sha256/<hex>         manifests, configs and layers, verified by digest
//! rootfs/<manifest-hex>/     unpacked root filesystems, read-only by convention
//! index.json                 imported image names → digests, and last-pulled tags
//! ```

mod auth;
mod mirror;
pub mod oci;
mod pack;
mod reference;
mod registry;
mod store;
mod unpack;

pub use auth::{auth_from_docker_config_json, Auth};
pub use mirror::Mirror;
pub use pack::{pack_binary, pack_rootfs, write_packed_binary};
pub use reference::{is_loopback_registry, ImageRef};
pub use store::{ImageStore, ImportedImage, StoreOptions};
pub use unpack::apply_layer;

/// Why an image could not be resolved, pulled or imported. Messages name the image and
/// the cause, so they can be used as a Revision condition message as they are.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// What the user wrote.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry (or the local store) has no such image, tag or blob.
    #[error("image {image} not found: {detail}")]
    NotFound {
        /// The normalised image reference.
        image: String,
        /// What exactly is missing.
        detail: String,
    },
    /// The registry refused the (missing or wrong) credentials.
    #[error("unauthorized to pull image {image}: {detail}")]
    Unauthorized {
        /// The normalised image reference.
        image: String,
        /// The registry's answer.
        detail: String,
    },
    /// The registry could not be reached in time.
    #[error("cannot pull image {image}: registry unreachable: {detail}")]
    Unreachable {
        /// The normalised image reference.
        image: String,
        /// Connect error or timeout.
        detail: String,
    },
    /// The manifest or config is malformed or unsupported.
    #[error("image {image} has a bad manifest: {detail}")]
    BadManifest {
        /// The normalised image reference.
        image: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Any other registry answer.
    #[error("cannot pull image {image}: {detail}")]
    Registry {
        /// The normalised image reference.
        image: String,
        /// The registry's answer.
        detail: String,
    },
    /// Content did not hash to its digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which content.
        what: String,
        /// The digest it was fetched by.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A tarball given to `import_archive` is neither an OCI layout nor a docker archive,
    /// or is incomplete.
    #[error("cannot import {path}: {detail}")]
    BadArchive {
        /// The archive path.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A registry mirror (`--registry-mirror REGISTRY=ENDPOINT`) does not parse.
    #[error("invalid registry mirror {mirror:?}: {reason}")]
    InvalidMirror {
        /// What the user wrote.
        mirror: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local filesystem error.
    #[error("{context}: {source}")]
    Io {
        /// What skiff was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
