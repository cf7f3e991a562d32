//! A certificate subject as Java's `X500Principal.getName()` prints it
//! (RFC 2253), the string Kafka's SSL principals, mapping rules and ACLs use.
//!
//! Java's rules, which this reproduces exactly: RDNs in reverse order of the
//! certificate's ASN.1 sequence, joined by `,` without spaces; the AVAs of a
//! multi-valued RDN joined by `+`; only the RFC 2253 keywords (CN, C, L, ST,
//! O, OU, STREET, DC, UID), any other type as its dotted OID with the value
//! as `#` and the lower-case hex of its DER encoding; string values escape
//! `, = + < > # ; " \` with a backslash, NUL as `\00`, and leading or
//! trailing spaces (and carriage returns) with a backslash.

use x509_parser::der_parser::asn1_rs::{Tag, ToDer};
use x509_parser::prelude::{AttributeTypeAndValue, FromDer, X509Certificate, X509Name};

/// The subject DN of a DER certificate, or None if it does not parse.
pub fn subject_of(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some(rfc2253(cert.subject()))
}

/// The RFC 2253 string of a name, as `X500Principal.getName()`.
pub fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| rdn.iter().map(render_ava).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// Java's RFC 2253 keyword for an attribute type, if it has one.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn render_ava(ava: &AttributeTypeAndValue<'_>) -> String {
    let oid = ava.attr_type().to_id_string();
    let value = ava.attr_value();
    // The string types Java renders as text (AVA.isDerString, non-canonical).
    let is_string = matches!(
        value.tag(),
        Tag::PrintableString
            | Tag::T61String
            | Tag::Ia5String
            | Tag::GeneralString
            | Tag::BmpString
            | Tag::Utf8String
    );
    match keyword(&oid) {
        Some(keyword) if is_string => {
            format!(
                "{keyword}={}",
                escape(&String::from_utf8_lossy(value.as_bytes()))
            )
        }
        found => {
            let der = value.to_der_vec().unwrap_or_default();
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", found.unwrap_or(&oid))
        }
    }
}

/// Java's escaping of an RFC 2253 string value.
fn escape(value: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut chars: Vec<char> = Vec::with_capacity(value.len());
    for c in value.chars() {
        if c == '\0' {
            chars.extend(['\\', '0', '0']);
            continue;
        }
        if ESCAPEES.contains(c) {
            chars.push('\\');
        }
        chars.push(c);
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, c) in chars.into_iter().enumerate() {
        if i < lead || i >= trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    fn subject(dn: DistinguishedName) -> String {
        let mut params = CertificateParams::new(vec![]).unwrap();
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        subject_of(cert.der()).unwrap()
    }

    /// Certificates made with openssl (testdata/), and the names Java's
    /// `X509Certificate.getSubjectX500Principal().getName()` printed for
    /// them (OpenJDK 17).
    #[test]
    fn matches_java_for_openssl_certificates() {
        use rustls_pki_types::pem::PemObject;
        for (pem, java) in [
            (
                include_str!("testdata/dn-escapes.pem"),
                r"CN=\ padded \#x\;y\=z\ ,OU=Eng,O=Acme\, Inc.,ST=CA,C=US",
            ),
            (
                include_str!("testdata/dn-oids-multivalued.pem"),
                "2.5.4.12=#0c024472,STREET=Main St 1,2.5.4.5=#13023432,\
                 1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d,\
                 CN=bob,OU=a+UID=u1,DC=example,DC=com",
            ),
            (
                include_str!("testdata/dn-utf8.pem"),
                r#"O=\#lead,CN=Jürgen \"q\" \<x\>\\"#,
            ),
        ] {
            let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(subject_of(der.as_ref()).unwrap(), java);
        }
    }

    #[test]
    fn reverses_the_rdn_sequence_without_spaces() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::StateOrProvinceName, "CA");
        dn.push(DnType::LocalityName, "Palo Alto");
        dn.push(DnType::OrganizationName, "Acme");
        dn.push(DnType::OrganizationalUnitName, "ServiceUsers");
        dn.push(DnType::CommonName, "writeuser");
        assert_eq!(
            subject(dn),
            "CN=writeuser,OU=ServiceUsers,O=Acme,L=Palo Alto,ST=CA,C=US"
        );
    }

    #[test]
    fn escapes_as_java_does() {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::OrganizationName,
            "Smith, Jones + Co; <x> \"q\" a=b #1\\",
        );
        dn.push(DnType::CommonName, " padded ");
        assert_eq!(
            subject(dn),
            "CN=\\ padded\\ ,O=Smith\\, Jones \\+ Co\\; \\<x\\> \\\"q\\\" a\\=b \\#1\\\\"
        );
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "#lead");
        assert_eq!(subject(dn), "CN=\\#lead");
    }

    #[test]
    fn other_types_are_dotted_oids_with_hex_der() {
        let mut dn = DistinguishedName::new();
        // emailAddress, an IA5String: Java has no RFC 2253 keyword for it.
        dn.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("a@b.c".try_into().unwrap()),
        );
        dn.push(DnType::CommonName, "alice");
        assert_eq!(
            subject(dn),
            "CN=alice,1.2.840.113549.1.9.1=#1605614062 2e63".replace(' ', "")
        );
        // UID and DC have keywords.
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
            DnValue::Ia5String("example".try_into().unwrap()),
        );
        dn.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
            DnValue::Utf8String("u1".into()),
        );
        assert_eq!(subject(dn), "UID=u1,DC=example");
    }
}
