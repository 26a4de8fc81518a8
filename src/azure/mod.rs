//! The Azure Resource Manager client: credentials, pipeline, retries, LROs, paging, errors.
