//! The gRPC face's messages (`scalekit.v1.clients`, as Scalekit's SDKs send them):
//! parsing an `OrganizationClient` into [`ClientChanges`] with the organization face's
//! field rules, rendering `M2MClient` / `ClientSecret`, and each [`AdminError`] as a gRPC
//! status carrying a `google.rpc.Status` (with `BadRequest` field violations) in
//! `grpc-status-details-bin`.
//!
//! proto3 cannot tell an empty value from an absent one, and the update request has no
//! field mask: on update, an empty string, an empty list or `expiry: 0` leaves the field
//! unchanged; on create, `expiry: 0` means the default. A list cannot be emptied here
//! (the REST face can: `[]`).

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use super::changes::{ClientChanges, ClientField};
use super::error::AdminError;
use crate::domain::{Client, ExpiryBounds, FieldViolation, Secret, SecretStatus, Timestamp, Usage};
use crate::proto::clients as pb;

/// Parses the `client` of a create (`creating`) or update request; `path` is the request
/// field that holds it (`client`), used in violations (`client.name`).
pub fn parse_client(
    message: Option<&pb::OrganizationClient>,
    creating: bool,
    bounds: ExpiryBounds,
) -> Result<ClientChanges, AdminError> {
    let default = pb::OrganizationClient::default();
    let message = message.unwrap_or(&default);
    let mut changes = ClientChanges::default();
    let mut errors: Vec<FieldViolation> = Vec::new();
    let mut set = |field, key: &str, value: Value| {
        changes.set(field, key, Some(&value), bounds, &mut errors);
    };
    if !message.name.is_empty() {
        set(ClientField::Name, "client.name", json!(message.name));
    }
    if !message.description.is_empty() {
        set(
            ClientField::Description,
            "client.description",
            json!(message.description),
        );
    }
    if !message.scopes.is_empty() {
        set(ClientField::Scopes, "client.scopes", json!(message.scopes));
    }
    if !message.audience.is_empty() {
        set(
            ClientField::Audience,
            "client.audience",
            json!(message.audience),
        );
    }
    if !message.custom_claims.is_empty() {
        let claims: Vec<Value> = message
            .custom_claims
            .iter()
            .map(|c| json!({"key": c.key, "value": c.value}))
            .collect();
        set(
            ClientField::CustomClaims,
            "client.custom_claims",
            Value::Array(claims),
        );
    }
    if message.expiry != 0 {
        set(ClientField::Expiry, "client.expiry", json!(message.expiry));
    }
    if creating && message.name.is_empty() {
        errors.push(FieldViolation::new("client.name", "is required"));
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(AdminError::fields(errors))
    }
}

fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    let nanos = at.as_nanos();
    prost_types::Timestamp {
        seconds: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos % 1_000_000_000).unwrap_or(0),
    }
}

pub fn client_secret(secret: &Secret, usage: &Usage) -> pb::ClientSecret {
    pb::ClientSecret {
        id: secret.id.as_str().to_owned(),
        create_time: Some(timestamp(secret.create_time)),
        update_time: Some(timestamp(secret.update_time)),
        secret_suffix: secret.suffix().to_owned(),
        created_by: secret.creator.as_ref().map(ToString::to_string),
        status: match secret.status {
            SecretStatus::Active => pb::ClientSecretStatus::Active,
            SecretStatus::Inactive => pb::ClientSecretStatus::Inactive,
        }
        .into(),
        expire_time: secret.expire_time.map(timestamp),
        last_used_time: usage.secret(&secret.id).map(timestamp),
        plain_secret: None,
    }
}

pub fn m2m_client(client: &Client, usage: &Usage) -> pb::M2mClient {
    pb::M2mClient {
        client_id: client.client_id.as_str().to_owned(),
        secrets: client
            .secrets
            .iter()
            .map(|s| client_secret(s, usage))
            .collect(),
        name: client.name.clone(),
        description: client.description.clone(),
        organization_id: client
            .organization_id
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        create_time: Some(timestamp(client.create_time)),
        update_time: Some(timestamp(client.update_time)),
        scopes: client.scopes.as_slice().to_vec(),
        audience: client.audience.as_slice().to_vec(),
        custom_claims: client
            .custom_claims
            .iter()
            .map(|c| pb::CustomClaim {
                key: c.key.clone(),
                value: c.value.clone(),
            })
            .collect(),
        expiry: i64::from(client.expiry.secs()),
        ..Default::default()
    }
}

/// The gRPC status of an admin error, always with `grpc-status-details-bin` (Scalekit's
/// Python SDK reads it on every error).
pub fn status(error: &AdminError) -> tonic::Status {
    let code = match error {
        AdminError::InvalidArgument { .. }
        | AdminError::PayloadTooLarge(_)
        | AdminError::UnsupportedMediaType(_) => Code::InvalidArgument,
        AdminError::Unauthenticated(_) => Code::Unauthenticated,
        AdminError::PermissionDenied(_) => Code::PermissionDenied,
        AdminError::NotFound(_) => Code::NotFound,
        AdminError::Conflict(_) => Code::Aborted,
        AdminError::PreconditionFailed(_) => Code::FailedPrecondition,
        AdminError::RequestTimeout(_) => Code::DeadlineExceeded,
        AdminError::Unavailable(_) => Code::Unavailable,
        AdminError::Internal => Code::Internal,
    };
    let mut details = ErrorDetails::new();
    if let AdminError::InvalidArgument {
        details: fields, ..
    } = error
    {
        details.set_bad_request(
            fields
                .iter()
                .map(|f| tonic_types::FieldViolation::new(&f.field, &f.description))
                .collect::<Vec<_>>(),
        );
    }
    tonic::Status::with_error_details(code, error.to_string(), details)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: ExpiryBounds = ExpiryBounds {
        min: 60,
        max: 86_400,
        default: 3600,
    };

    #[test]
    fn empty_values_leave_fields_alone_and_bad_ones_are_named() {
        let none = parse_client(Some(&pb::OrganizationClient::default()), false, BOUNDS).unwrap();
        assert!(none.name.is_none() && none.scopes.is_none() && none.expiry.is_none());
        let bad = pb::OrganizationClient {
            scopes: vec!["a b".into()],
            expiry: 5,
            ..Default::default()
        };
        let AdminError::InvalidArgument { details, .. } =
            parse_client(Some(&bad), true, BOUNDS).unwrap_err()
        else {
            panic!("not a field error")
        };
        let mut names: Vec<_> = details.into_iter().map(|d| d.field).collect();
        names.sort();
        assert_eq!(names, ["client.expiry", "client.name", "client.scopes[0]"]);
    }

    #[test]
    fn every_error_carries_its_details() {
        for (error, code) in [
            (
                AdminError::field("client.name", "is required"),
                Code::InvalidArgument,
            ),
            (AdminError::NotFound("x".into()), Code::NotFound),
            (AdminError::Unavailable("x".into()), Code::Unavailable),
        ] {
            let status = status(&error);
            assert_eq!(status.code(), code);
            assert!(!status.details().is_empty(), "{code:?} has details");
        }
        let with_fields = status(&AdminError::field("client.name", "is required"));
        let request = with_fields.get_details_bad_request().unwrap();
        assert_eq!(request.field_violations[0].field, "client.name");
    }
}
