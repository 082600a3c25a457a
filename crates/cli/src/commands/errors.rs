//! kubectl's wording for errors: `Error from server (NotFound): ...` for API errors,
//! and the exit path for commands that report several failures before exiting 1.

use std::io::Write;

/// Formats an API error like kubectl: `Error from server (Reason): [context: ]message`.
/// Errors that never reached the server become `error: ...`.
pub fn describe_error(err: &kube::Error, context: Option<&str>) -> String {
    let prefix = context.map(|c| format!("{c}: ")).unwrap_or_default();
    match err {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", status.reason)
            };
            format!("Error from server{reason}: {prefix}{}", status.message)
        }
        other => format!("error: {prefix}{other}"),
    }
}

/// Whether the error is the server's 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Flushes stdout and exits with status 1 (after the errors were already printed).
pub fn exit_failure() -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_err(code: u16, reason: &str, message: &str) -> kube::Error {
        let status: kube::core::Status =
            serde_json::from_value(serde_json::json!({"code": code, "reason": reason, "message": message, "status": "Failure"})).unwrap();
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn formats_like_kubectl() {
        let e = api_err(
            404,
            "NotFound",
            "services.serving.knative.dev \"x\" not found",
        );
        assert!(is_not_found(&e));
        assert_eq!(
            describe_error(&e, None),
            "Error from server (NotFound): services.serving.knative.dev \"x\" not found"
        );
        let e = api_err(422, "Invalid", "bad");
        assert!(!is_not_found(&e));
        assert_eq!(
            describe_error(&e, Some("error when creating \"hello.yaml\"")),
            "Error from server (Invalid): error when creating \"hello.yaml\": bad"
        );
    }
}
