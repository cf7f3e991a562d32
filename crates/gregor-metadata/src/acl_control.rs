//! The controller's ACL decisions (Kafka's `AclControlManager`): which
//! records CreateAcls and DeleteAcls write, and each item's result.

use crate::acl::{validate_new_acl, AclBinding, AclFilter};
use crate::{MetadataImage, MetadataRecord};
use std::collections::HashSet;
use uuid::Uuid;

/// Kafka caps one user operation at this many records.
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// One creation's answer: `None` on success, else (error code, message).
pub type CreateResult = Option<(i16, String)>;

/// The records creating `acls` and one result per ACL, in order. An ACL
/// that already exists (or appears twice) succeeds without a record, as in
/// Kafka.
pub fn create_acls(
    image: &MetadataImage,
    acls: &[AclBinding],
    mut new_id: impl FnMut() -> Uuid,
) -> (Vec<MetadataRecord>, Vec<CreateResult>) {
    let mut existing: HashSet<&AclBinding> = image.acls.values().collect();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(acls.len());
    for acl in acls {
        if let Err(err) = validate_new_acl(acl) {
            results.push(Some(err));
            continue;
        }
        if existing.insert(acl) {
            let mut id = new_id();
            while image.acls.contains_key(&id) {
                id = new_id();
            }
            records.push(MetadataRecord::AccessControlEntry {
                id,
                acl: acl.clone(),
            });
        }
        results.push(None);
    }
    (records, results)
}

/// One filter's answer: the ACLs it removed, or (error code, message).
pub type DeleteResult = Result<Vec<AclBinding>, (i16, String)>;

/// The records deleting every ACL matching `filters`, and per filter the
/// ACLs it matched (an ACL matched by two filters is listed for both and
/// removed once).
pub fn delete_acls(
    image: &MetadataImage,
    filters: &[AclFilter],
) -> (Vec<MetadataRecord>, Vec<DeleteResult>) {
    let mut removed: HashSet<Uuid> = HashSet::new();
    let mut results = Vec::with_capacity(filters.len());
    for filter in filters {
        if let Err(message) = filter.validate() {
            results.push(Err((
                gregor_protocol::error_codes::INVALID_REQUEST,
                message,
            )));
            continue;
        }
        let matched: Vec<(Uuid, &AclBinding)> = image
            .acls
            .iter()
            .filter(|(_, acl)| filter.matches(acl))
            .map(|(id, acl)| (*id, acl))
            .collect();
        let mut after = removed.clone();
        after.extend(matched.iter().map(|(id, _)| *id));
        if after.len() > MAX_RECORDS_PER_USER_OP {
            results.push(Err((
                gregor_protocol::error_codes::INVALID_REQUEST,
                format!(
                    "Cannot remove more than {MAX_RECORDS_PER_USER_OP} acls in a single delete operation."
                ),
            )));
            continue;
        }
        removed = after;
        results.push(Ok(matched.into_iter().map(|(_, a)| a.clone()).collect()));
    }
    let records = removed
        .into_iter()
        .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
        .collect();
    (records, results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{AclOperation, AclPermission, PatternType, ResourceType};

    fn acl(name: &str, principal: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn create_validates_and_skips_existing() {
        let mut image = MetadataImage::default();
        let (records, results) = create_acls(
            &image,
            &[acl("a", "User:x"), acl("", "User:x"), acl("a", "User:x")],
            ids(),
        );
        assert_eq!(records.len(), 1);
        assert_eq!(results[0], None);
        assert_eq!(
            results[1].as_ref().map(|e| e.0),
            Some(gregor_protocol::error_codes::INVALID_REQUEST)
        );
        assert_eq!(results[2], None);
        image.apply_entry(0, &records);
        assert_eq!(image.acls.len(), 1);
        // Creating it again writes nothing; a fresh id never collides.
        let (records, results) = create_acls(&image, &[acl("a", "User:x")], ids());
        assert!(records.is_empty());
        assert_eq!(results, vec![None]);
        let (records, _) = create_acls(&image, &[acl("b", "User:x")], ids());
        let MetadataRecord::AccessControlEntry { id, .. } = &records[0] else {
            panic!("not an ACL record")
        };
        assert_ne!(*id, Uuid::from_u128(1));
    }

    #[test]
    fn delete_returns_matches_and_removes_once() {
        let mut image = MetadataImage::default();
        let (records, _) = create_acls(
            &image,
            &[acl("a", "User:x"), acl("b", "User:x"), acl("b", "User:y")],
            ids(),
        );
        image.apply_entry(0, &records);
        let mut by_x = AclFilter::any();
        by_x.principal = Some("User:x".into());
        let mut b = AclFilter::any();
        b.resource_name = Some("b".into());
        let mut bad = AclFilter::any();
        bad.permission = AclPermission::Unknown;
        let (records, results) = delete_acls(&image, &[by_x, b, bad]);
        assert_eq!(records.len(), 3);
        assert_eq!(results[0].as_ref().map(Vec::len), Ok(2));
        assert_eq!(results[1].as_ref().map(Vec::len), Ok(2));
        assert!(results[2].is_err());
        image.apply_entry(1, &records);
        assert!(image.acls.is_empty());
    }
}
