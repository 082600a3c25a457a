//! The hashes behind Tekton's generated names: MD5 for `kmeta.ChildName` (TaskRun
//! names) and SHA-256 for the PersistentVolumeClaims of `volumeClaimTemplate`
//! workspaces (`volumeclaim.GeneratePVCNameFromWorkspaceBinding`). Written out here
//! because the names must match Tekton's byte for byte and neither is a dependency.

/// The longest Kubernetes object name (a DNS label).
const LONGEST: usize = 63;
/// `kmeta` keeps this much of the parent before the 32-character hash.
const HEAD: usize = LONGEST - 32;

/// Knative's `kmeta.ChildName(parent, suffix)`: `parent + suffix`, or, when that is
/// longer than 63 characters, the parent cut short and followed by the MD5 of the
/// whole parent, so that names stay unique. A suffix of 31 characters or more is
/// hashed together with the parent.
pub fn child_name(parent: &str, suffix: &str) -> String {
    if parent.len() <= LONGEST.saturating_sub(suffix.len()) {
        return format!("{parent}{suffix}");
    }
    if HEAD <= suffix.len() {
        let hash = hex(&md5(format!("{parent}{suffix}").as_bytes()));
        let mut ret = format!("{}{hash}", prefix_bytes(parent, HEAD));
        if ret.len() < LONGEST {
            let d = LONGEST - ret.len();
            ret.push_str(prefix_bytes(suffix, d));
        }
        return ret.trim_end_matches('-').to_string();
    }
    let hash = hex(&md5(parent.as_bytes()));
    format!(
        "{}{hash}{suffix}",
        prefix_bytes(parent, HEAD - suffix.len())
    )
}

/// The first `n` bytes of `s` (Go slices bytes; names are ASCII, but never split a
/// character).
fn prefix_bytes(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Pads a message for MD5 / SHA-256: `0x80`, zeros, then the bit length.
fn pad(data: &[u8], big_endian: bool) -> Vec<u8> {
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    if big_endian {
        msg.extend_from_slice(&bits.to_be_bytes());
    } else {
        msg.extend_from_slice(&bits.to_le_bytes());
    }
    msg
}

/// MD5 (RFC 1321).
pub(crate) fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    // K[i] = floor(|sin(i + 1)| * 2^32), exact in double precision.
    let k: Vec<u32> = (0..64)
        .map(|i| ((f64::from(i) + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for chunk in pad(data, false).chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[(i / 16) * 4 + i % 4]));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 16];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// The first 64 primes.
fn primes() -> Vec<u32> {
    let mut out = Vec::with_capacity(64);
    let mut n = 2u32;
    while out.len() < 64 {
        if (2..n)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
        {
            out.push(n);
        }
        n += 1;
    }
    out
}

/// The first 32 bits of the fractional part of `x`.
fn frac32(x: f64) -> u32 {
    ((x - x.floor()) * 4_294_967_296.0) as u32
}

/// SHA-256 (FIPS 180-4).
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let p = primes();
    let k: Vec<u32> = p.iter().map(|&n| frac32(f64::from(n).cbrt())).collect();
    let mut h: Vec<u32> = p[..8]
        .iter()
        .map(|&n| frac32(f64::from(n).sqrt()))
        .collect();
    for chunk in pad(data, true).chunks(64) {
        let mut w = [0u32; 64];
        for (i, b) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]];
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(k[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// The claim Tekton creates for a `volumeClaimTemplate` workspace binding of the
/// PipelineRun `owner` (`GeneratePVCNameFromWorkspaceBinding`, per-workspace affinity,
/// Tekton's default): `{template name or "pvc"}-{sha256(binding + owner)[:10]}`.
pub fn pvc_name(template_name: &str, binding_name: &str, owner_name: &str) -> String {
    let claim = if template_name.is_empty() {
        "pvc"
    } else {
        template_name
    };
    let id = hex(&sha256(format!("{binding_name}{owner_name}").as_bytes()));
    format!("{claim}-{}", &id[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_vectors() {
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(&md5(b"The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            hex(&md5(b"abcdefghijklmnopqrstuvwxyz")),
            "c3fcd3d76192e4007dfb496cca67e13b"
        );
        let long = "1234567890".repeat(8);
        assert_eq!(
            hex(&md5(long.as_bytes())),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn child_names() {
        assert_eq!(child_name("build-run", "-compile"), "build-run-compile");
        // 63 exactly is kept.
        let parent = "p".repeat(55);
        assert_eq!(child_name(&parent, "-compile").len(), 63);
        assert_eq!(child_name(&parent, "-compile"), format!("{parent}-compile"));
        // One more and the parent is cut to 31 - len(suffix) and hashed.
        let parent = "p".repeat(56);
        let name = child_name(&parent, "-compile");
        let hash = hex(&md5(parent.as_bytes()));
        assert_eq!(name, format!("{}{hash}-compile", "p".repeat(23)));
        assert_eq!(name.len(), 63);
        // A suffix of 31+ characters is hashed with the parent (Knative's value).
        let suffix = format!("-{}", "s".repeat(40));
        let name = child_name("my-pipeline-run-with-a-longer-name", &suffix);
        assert_eq!(
            name,
            "my-pipeline-run-with-a-longer-n8d709a57aafff197865be82f26a49b30"
        );
        assert_eq!(name.len(), 63);
    }

    #[test]
    fn pvc_names() {
        let name = pvc_name("", "source", "build-run");
        let id = hex(&sha256(b"sourcebuild-run"));
        assert_eq!(name, format!("pvc-{}", &id[..10]));
        assert!(pvc_name("data", "source", "build-run").starts_with("data-"));
    }
}
