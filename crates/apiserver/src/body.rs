//! Request bodies: JSON or YAML objects, by Content-Type, with parse errors that say
//! where the document is broken.

use serde_json::Value;

use crate::status::ApiError;

/// Content-Types accepted for create and update bodies.
pub const OBJECT_CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    crate::protobuf::CONTENT_TYPE,
];

/// Parses a create/update body according to its Content-Type.
pub fn parse_object(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let value = match media {
        "application/json" | "" => serde_json::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml_or_json(body)?,
        crate::protobuf::CONTENT_TYPE => match crate::protobuf::decode(body) {
            Ok(v) => v,
            Err(crate::protobuf::DecodeError::Malformed(why)) => {
                return Err(ApiError::bad_request(format!(
                    "error decoding protobuf body: {why}"
                )))
            }
            // Kubernetes has no protobuf form of custom resources either.
            Err(crate::protobuf::DecodeError::UnsupportedKind(_)) => {
                return Err(ApiError::unsupported_media_type(
                    media,
                    &["application/json", "application/yaml"],
                ))
            }
        },
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                OBJECT_CONTENT_TYPES,
            ))
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Parses YAML (which includes JSON); errors carry the line and column.
pub fn parse_yaml_or_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice::<Value>(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_name_the_line() {
        let err = parse_object("application/yaml", b"a: 1\nb: [\n").unwrap_err();
        assert!(err.message.contains("line"), "{}", err.message);
    }

    #[test]
    fn unknown_content_type_is_415() {
        assert_eq!(parse_object("text/plain", b"{}").unwrap_err().code, 415);
    }
}
