//! Microsoft.Compute managed disks and snapshots (the disk resource provider, versioned apart
//! from the rest of Compute): stored as sent, so tests can leave an orphaned OS disk or a
//! snapshot in a cluster's group the way Azure or a colleague would.

use serde_json::Value;

use super::{PutCtx, envelope, str_at};
use crate::error::ArmError;

/// `sku.name` values of DiskRP 2025-01-02 (`DiskStorageAccountTypes`).
const DISK_SKUS: [&str; 7] = [
    "Standard_LRS",
    "Premium_LRS",
    "StandardSSD_LRS",
    "UltraSSD_LRS",
    "Premium_ZRS",
    "StandardSSD_ZRS",
    "PremiumV2_LRS",
];

/// Read-only properties ARM ignores in a request.
const READ_ONLY: [&str; 4] = ["timeCreated", "diskState", "uniqueId", "diskSizeBytes"];

/// Validates a disk or snapshot PUT: `properties.creationData.createOption` is required (as
/// in the spec's `CreationData`), an `Empty` disk needs `diskSizeGB`, a disk `sku.name` must
/// be a known storage type.
pub fn disk_or_snapshot(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let option = str_at(input, "/properties/creationData/createOption").ok_or_else(|| {
        ArmError::bad_request(
            "InvalidParameter",
            "properties.creationData.createOption is required.",
        )
    })?;
    let is_disk = ctx
        .spec
        .rtype
        .eq_ignore_ascii_case("Microsoft.Compute/disks");
    if is_disk && option.eq_ignore_ascii_case("Empty") {
        let size = input
            .pointer("/properties/diskSizeGB")
            .and_then(Value::as_u64);
        if size.is_none_or(|s| s == 0) {
            return Err(ArmError::bad_request(
                "InvalidParameter",
                "properties.diskSizeGB is required for an empty disk.",
            ));
        }
    }
    if let Some(sku) = str_at(input, "/sku/name").filter(|_| is_disk)
        && !DISK_SKUS.iter().any(|s| s.eq_ignore_ascii_case(sku))
    {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            format!("sku.name '{sku}' is not one of {DISK_SKUS:?}."),
        ));
    }
    Ok(Value::Object(envelope(ctx, input, &READ_ONLY)?))
}
