//! OCI images for the local runtime (being built).
