//! Cluster membership through the gateway (`/v3/cluster/member/{list,add,promote,remove}`),
//! what k3s's embedded-etcd manager does with clientv3: list the members, add one (as a
//! learner when asked: etcd 3.4 serves learners through the gateway too), promote a learner
//! that caught up, remove a member. Checked against Debian's etcd 3.4.

use serde::Deserialize;
use serde_json::json;

use super::client::Kind;
use super::wire::num;
use super::{EtcdStore, unavailable};
use crate::store::StoreError;

/// One member, as `MemberList` reports it. A member that was added but has not started yet
/// has no name and no client URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(default, rename = "ID", deserialize_with = "num")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    pub client_urls: Vec<String>,
    #[serde(default, rename = "isLearner")]
    pub is_learner: bool,
}

#[derive(Debug, Default, Deserialize)]
struct MembersResponse {
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    members: Vec<Member>,
}

impl EtcdStore {
    /// The members the cluster knows (served by the member asked, from its own view).
    pub async fn member_list(&self) -> Result<Vec<Member>, StoreError> {
        let r: MembersResponse = self
            .t
            .call("/v3/cluster/member/list", &json!({}), Kind::Read)
            .await
            .map_err(unavailable)?;
        Ok(r.members)
    }

    /// Adds a member with these peer URLs (a learner when `learner`); the new member and the
    /// membership after the change. etcd refuses with `etcdserver: too many learner members
    /// in cluster` (one learner at a time) or `etcdserver: unhealthy cluster` (the change
    /// could cost the quorum), which callers retry.
    pub async fn member_add(
        &self,
        peer_urls: &[String],
        learner: bool,
    ) -> Result<(Member, Vec<Member>), StoreError> {
        let r: MembersResponse = self
            .t
            .call(
                "/v3/cluster/member/add",
                &json!({"peerURLs": peer_urls, "isLearner": learner}),
                Kind::Write,
            )
            .await
            .map_err(unavailable)?;
        let added = r.member.ok_or_else(|| {
            StoreError::Unavailable("etcd answered a member add without the member".into())
        })?;
        Ok((added, r.members))
    }

    /// Promotes learner `id` to a voting member. etcd refuses while the learner lags
    /// (`etcdserver: can only promote a learner member which is in sync with leader`).
    pub async fn member_promote(&self, id: u64) -> Result<Vec<Member>, StoreError> {
        self.change("/v3/cluster/member/promote", id).await
    }

    /// Removes member `id` (etcd: `etcdserver: member not found` when it is not one).
    pub async fn member_remove(&self, id: u64) -> Result<Vec<Member>, StoreError> {
        self.change("/v3/cluster/member/remove", id).await
    }

    /// A membership change of one member; the membership after it.
    async fn change(&self, path: &str, id: u64) -> Result<Vec<Member>, StoreError> {
        let r: MembersResponse = self
            .t
            .call(path, &json!({"ID": id.to_string()}), Kind::Write)
            .await
            .map_err(unavailable)?;
        Ok(r.members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_etcd_3_4_lists() {
        // Captured from etcd 3.4.23: a started voter, and a learner just added (no name yet).
        let text = r#"{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},
            "member":{"ID":"16017520918272920703","peerURLs":["http://127.0.0.1:23801"],"isLearner":true},
            "members":[{"ID":"3319814642761637952","name":"m0","peerURLs":["http://127.0.0.1:23800"],"clientURLs":["http://127.0.0.1:23790"]},
                {"ID":"16017520918272920703","peerURLs":["http://127.0.0.1:23801"],"isLearner":true}]}"#;
        let r: MembersResponse = serde_json::from_str(text).unwrap();
        let added = r.member.unwrap();
        assert_eq!(added.id, 16017520918272920703);
        assert!(added.is_learner && added.name.is_empty());
        assert_eq!(r.members[0].name, "m0");
        assert_eq!(r.members[0].client_urls, ["http://127.0.0.1:23790"]);
        assert!(!r.members[0].is_learner);
    }
}
