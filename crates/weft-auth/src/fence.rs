//! fence's data rules: who may read, create, write, upload in parts to and delete records'
//! objects. The binary's upload flow (`weft::upload::FenceUploads`) and signed access
//! (`weft::access::SignedAccess`) ask these before any record or object is written or
//! any URL signed.
//!
//! - Reading (`/user/data/download/{guid}`, DRS access): a public record by anyone, a
//!   record without `authz` by its `uploader`, any other needs `fence` `read-storage` on
//!   every `authz` path.
//! - A new upload (`POST /user/data/upload`): a token with the `data` scope, and `fence`
//!   `create` and `write-storage` on every `authz` path of the body, or (no `authz`)
//!   `fence` `file_upload` on `/data_file`. The record's `uploader` is the token's user
//!   when no `authz` is given (fence clears it otherwise).
//! - Writing to an existing record (`GET /user/data/upload/{guid}`, or a new upload naming
//!   its `guid`): `fence` `write-storage` on the record's `authz`; a record without `authz`
//!   needs the caller to be its `uploader` (one with `acl` `*` is refused).
//! - Multipart: the `data` scope and `fence` `file_upload` on `/data_file`.
//! - `DELETE /user/data/{guid}`: the `data` scope and `fence` `delete` on the record's
//!   `authz`, or being its `uploader` when it has none.

use std::sync::Arc;

use weft_core::{ErrorCode, WeftError};
use weft_identity::Tokens;
use weft_store::IndexRecord;

use crate::{AuthError, Authorized, Authorizer, Credentials, Purpose, verify_bearer};

/// Where uploads without `authz` are checked.
pub const DATA_FILE: &str = "/data_file";

/// What a new upload may do, once allowed.
#[derive(Debug)]
pub struct NewUpload {
    /// The proof the blank record is created under.
    pub proof: Authorized,
    /// The record's `uploader`: the caller when no `authz` is given.
    pub uploader: Option<String>,
}

/// fence's rules on the policy engine (through `authorizer`) and verified tokens.
pub struct FenceRules {
    pub authorizer: Arc<dyn Authorizer>,
    pub tokens: Arc<Tokens>,
}

impl FenceRules {
    /// The token's user; the token must carry `scopes`. No token is a 401, a token lacking
    /// a scope a 403 (fence's upload endpoints), a token of no user a 403.
    pub async fn user(&self, creds: &Credentials, scopes: &[&str]) -> Result<String, WeftError> {
        let Credentials::Bearer(token) = creds else {
            return Err(WeftError::unauthenticated(
                "Please provide an access token (Authorization: bearer ...)",
            ));
        };
        match verify_bearer(&self.tokens, token, scopes, Purpose::Access).await {
            Ok(p) => p
                .user
                .ok_or_else(|| WeftError::forbidden("the token names no user")),
            Err(AuthError::NoSubject) => Err(WeftError::forbidden("the token names no user")),
            Err(e) if e.is_missing_scope() => Err(WeftError::forbidden(e.to_string())),
            Err(e) => Err(WeftError::unauthenticated(e.to_string())),
        }
    }

    /// A new upload with `authz` (empty: none given).
    pub async fn new_upload(
        &self,
        creds: &Credentials,
        authz: &[String],
    ) -> Result<NewUpload, WeftError> {
        let user = self.user(creds, &["data"]).await?;
        let proof = if authz.is_empty() {
            self.authorizer
                .authorize(creds, "fence", "file_upload", &[DATA_FILE.to_owned()])
                .await?
        } else {
            self.authorizer
                .authorize(creds, "fence", "create", authz)
                .await?;
            self.authorizer
                .authorize(creds, "fence", "write-storage", authz)
                .await?
        };
        Ok(NewUpload {
            proof,
            // fence clears the uploader when authz is given
            uploader: authz.is_empty().then_some(user),
        })
    }

    /// Writing an object to the existing `record`.
    pub async fn may_write(
        &self,
        creds: &Credentials,
        record: &IndexRecord,
    ) -> Result<(), WeftError> {
        if !record.authz.is_empty() {
            self.authorizer
                .authorize(creds, "fence", "write-storage", &record.authz)
                .await?;
            return Ok(());
        }
        if record.acl.iter().any(|a| a == "*") {
            return Err(WeftError::unauthenticated(
                "Cannot upload on public files while using acl field",
            ));
        }
        let user = self.user(creds, &[]).await?;
        if record.uploader.as_deref() == Some(user.as_str()) {
            Ok(())
        } else {
            Err(WeftError::forbidden(format!(
                "You don't have access permission on this file: {}",
                record.did
            )))
        }
    }

    /// A multipart upload (each of its steps): the caller's user name.
    pub async fn file_upload(&self, creds: &Credentials) -> Result<String, WeftError> {
        let user = self.user(creds, &["data"]).await?;
        self.authorizer
            .authorize(creds, "fence", "file_upload", &[DATA_FILE.to_owned()])
            .await?;
        Ok(user)
    }

    /// Deleting `record` and its objects.
    pub async fn may_delete(
        &self,
        creds: &Credentials,
        record: &IndexRecord,
    ) -> Result<Authorized, WeftError> {
        let user = self.user(creds, &["data"]).await?;
        if record.authz.is_empty() {
            if record.uploader.as_deref() != Some(user.as_str()) {
                return Err(WeftError::forbidden(
                    "You cannot delete this file because the uploader field indicates it \
                     does not belong to you.",
                ));
            }
            return Ok(Authorized::granted(user, "fence", "delete"));
        }
        self.authorizer
            .authorize(creds, "fence", "delete", &record.authz)
            .await
            .map_err(|e| match e.code {
                ErrorCode::Forbidden => WeftError::forbidden(
                    "You do not have arborist permissions to delete this file.",
                ),
                _ => e,
            })
    }

    /// fence's legacy read rule: a record without `authz` is readable by its `uploader`.
    pub async fn is_uploader(&self, creds: &Credentials, record: &IndexRecord) -> bool {
        let (true, Some(uploader), Credentials::Bearer(token)) =
            (record.authz.is_empty(), &record.uploader, creds)
        else {
            return false;
        };
        verify_bearer(&self.tokens, token, &[], Purpose::Access)
            .await
            .is_ok_and(|p| p.user.as_deref() == Some(uploader.as_str()))
    }

    /// Reading `record`'s bytes; `public` is whether the record is public (see
    /// `weft_indexd::drs::is_public`).
    pub async fn may_read(
        &self,
        creds: &Credentials,
        record: &IndexRecord,
        public: bool,
    ) -> Result<(), WeftError> {
        if !public && !self.is_uploader(creds, record).await {
            self.authorizer
                .authorize(creds, "fence", "read-storage", &record.authz)
                .await?;
        }
        Ok(())
    }
}
