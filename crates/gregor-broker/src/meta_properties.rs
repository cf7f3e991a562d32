//! `meta.properties`: the identity of a log dir (cluster id, node id), as
//! Kafka writes it at format time. Gregor formats on first start.

use std::io;
use std::path::{Path, PathBuf};
use uuid::Uuid;

const FILE: &str = "meta.properties";

/// Reads the cluster id of `log_dir`, creating `meta.properties` with a new
/// one if the dir is new. Refuses a dir formatted for another node id.
pub fn load_or_create(log_dir: &Path, node_id: i32) -> io::Result<String> {
    let path = log_dir.join(FILE);
    match read(log_dir)? {
        Some(meta) => {
            if let Some(stored) = meta.node_id {
                if stored != node_id.to_string() {
                    return Err(io::Error::other(format!(
                        "{} belongs to node.id {stored}, not {node_id}",
                        path.display()
                    )));
                }
            }
            meta.cluster_id
                .ok_or_else(|| io::Error::other(format!("{} has no cluster.id", path.display())))
        }
        None => {
            let cluster_id = random_id();
            write(log_dir, &cluster_id, node_id)?;
            Ok(cluster_id)
        }
    }
}

/// The identity fields of one `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: Option<String>,
    pub node_id: Option<String>,
}

/// Reads `dir/meta.properties`; `None` when the dir is not formatted.
pub fn read(dir: &Path) -> io::Result<Option<MetaProperties>> {
    let text = match std::fs::read_to_string(dir.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    Ok(Some(MetaProperties {
        cluster_id: value("cluster.id"),
        node_id: value("node.id"),
    }))
}

/// Writes a v1 `meta.properties` (Kafka 4's format) with a fresh
/// directory id, atomically: a crash leaves the dir unformatted, never
/// half-formatted.
pub fn write(dir: &Path, cluster_id: &str, node_id: i32) -> io::Result<()> {
    let text = format!(
        "#Written by gregor\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\ndirectory.id={}\n",
        random_id()
    );
    let tmp = dir.join("meta.properties.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Checks that every formatted dir among `dirs` belongs to one cluster and
/// to `node_id`, as Kafka does at start-up; returns that cluster id (`None`
/// when no dir is formatted yet). Messages are Kafka's.
pub fn verify(dirs: &[PathBuf], node_id: i32) -> Result<Option<String>, String> {
    let mut expected: Option<String> = None;
    for dir in dirs {
        let path = dir.join(FILE);
        let meta = read(dir).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let Some(meta) = meta else { continue };
        let Some(cluster_id) = meta.cluster_id else {
            return Err(format!("{} has no cluster.id", path.display()));
        };
        if let Some(stored) = &meta.node_id {
            if *stored != node_id.to_string() {
                return Err(format!(
                    "Stored node id {stored} doesn't match previous node id {node_id} in {}. \
                     If you moved your data, make sure your configured node id matches. If you \
                     intend to create a new node, you should remove all data in your data \
                     directories.",
                    path.display()
                ));
            }
        }
        match &expected {
            Some(first) if *first != cluster_id => {
                return Err(format!(
                    "Invalid cluster.id in: {}. Expected {first}, but read {cluster_id}",
                    path.display()
                ));
            }
            Some(_) => {}
            None => expected = Some(cluster_id),
        }
    }
    Ok(expected)
}

/// A random Kafka UUID string, never one starting with '-' (Kafka's
/// `Uuid.randomUuid` skips those so the id never reads as a CLI flag) nor
/// the all-zero id.
pub fn random_id() -> String {
    loop {
        let id = Uuid::new_v4();
        let text = kafka_uuid_string(id);
        if !text.starts_with('-') && !id.is_nil() {
            return text;
        }
    }
}

/// Parses Kafka's 22-character URL-safe base64 UUID form.
pub fn parse_kafka_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 22 {
        return None;
    }
    let mut n: u128 = 0;
    for (i, c) in text.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u128;
        if i == 21 {
            // 22 chars carry 132 bits; the last char's low 4 bits must be 0.
            if v & 0xf != 0 {
                return None;
            }
            n = (n << 2) | (v >> 4);
        } else {
            n = (n << 6) | v;
        }
    }
    Some(Uuid::from_u128(n))
}

/// Kafka prints UUIDs as 22 characters of URL-safe base64 without padding.
pub fn kafka_uuid_string(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_strings_match_kafkas_base64() {
        // Kafka's Uuid.toString of 0x00..01 is "AAAAAAAAAAAAAAAAAAAAAQ".
        let id = Uuid::from_u128(1);
        assert_eq!(kafka_uuid_string(id), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(
            kafka_uuid_string(Uuid::from_u128(u128::MAX)),
            "_____________________w"
        );
    }

    #[test]
    fn cluster_id_is_stable_and_node_id_checked() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), 1).unwrap();
        assert_eq!(first.len(), 22);
        assert_eq!(load_or_create(dir.path(), 1).unwrap(), first);
        assert!(load_or_create(dir.path(), 2).is_err());
    }

    #[test]
    fn kafka_uuid_strings_round_trip() {
        for n in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        ] {
            let id = Uuid::from_u128(n);
            assert_eq!(parse_kafka_uuid(&kafka_uuid_string(id)), Some(id));
        }
        assert_eq!(parse_kafka_uuid("AAAAAAAAAAAAAAAAAAAAAB"), None);
        assert_eq!(parse_kafka_uuid("short"), None);
        assert_eq!(parse_kafka_uuid("AAAAAAAAAAAAAAAAAAAA=A"), None);
    }

    #[test]
    fn verify_refuses_dirs_of_two_clusters() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(verify(&dirs, 1), Ok(None));
        write(a.path(), "AAAAAAAAAAAAAAAAAAAAAQ", 1).unwrap();
        assert_eq!(verify(&dirs, 1), Ok(Some("AAAAAAAAAAAAAAAAAAAAAQ".into())));
        write(b.path(), "AAAAAAAAAAAAAAAAAAAAAg", 1).unwrap();
        let err = verify(&dirs, 1).unwrap_err();
        assert!(err.starts_with("Invalid cluster.id in: "), "{err}");
        assert!(verify(&dirs[..1], 2).unwrap_err().contains("node id"));
    }
}
