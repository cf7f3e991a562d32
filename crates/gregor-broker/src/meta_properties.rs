//! `meta.properties`: the identity of a log dir (cluster id, node id), as
//! Kafka writes it at format time. Gregor formats on first start.

use std::io;
use std::path::Path;
use uuid::Uuid;

const FILE: &str = "meta.properties";

/// Reads the cluster id of `log_dir`, creating `meta.properties` with a new
/// one if the dir is new. Refuses a dir formatted for another node id.
pub fn load_or_create(log_dir: &Path, node_id: i32) -> io::Result<String> {
    let path = log_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let value = |key: &str| {
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_string())
            };
            if let Some(stored) = value("node.id") {
                if stored != node_id.to_string() {
                    return Err(io::Error::other(format!(
                        "{} belongs to node.id {stored}, not {node_id}",
                        path.display()
                    )));
                }
            }
            value("cluster.id")
                .ok_or_else(|| io::Error::other(format!("{} has no cluster.id", path.display())))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let cluster_id = kafka_uuid_string(Uuid::new_v4());
            let text = format!(
                "#Written by gregor\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\ndirectory.id={}\n",
                kafka_uuid_string(Uuid::new_v4())
            );
            let tmp = log_dir.join("meta.properties.tmp");
            std::fs::write(&tmp, text)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(log_dir)?.sync_all()?;
            Ok(cluster_id)
        }
        Err(e) => Err(e),
    }
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
}
