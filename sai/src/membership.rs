//! Membership of a shared entity: who may read and change it, and the events that change that.
//!
//! The rule: a shared entity (a domain declared `#[domain(shared)]`) is its own group. The user
//! whose intent created it is its first owner. Owners invite users with a [`Role`]; an invited
//! user reads the entity at once and joins to start changing it; owners change roles and
//! remove members; anyone leaves. A group always keeps an owner. Membership is event-sourced
//! like the entity: a [`MemberEvent`] travels as an intent of the entity (wire types
//! `sai.member.*`), the server decides it with [`Members::apply`] and stores the result in
//! the projection's `members` column, and the device predicts it with the same function.
//!
//! Everything here is pure: the same members and event give the same answer on every side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a member may do with a shared entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the entity; every change is rejected with `read_only`.
    Viewer,
    /// Reads and changes the entity (the machine's guards still decide).
    Editor,
    /// An editor who also invites, changes roles and removes members.
    Owner,
}

impl Role {
    /// Whether the role may change the entity.
    pub fn writes(self) -> bool {
        matches!(self, Role::Editor | Role::Owner)
    }

    /// The role's wire name (`viewer`, `editor`, `owner`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member's place in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's role.
    pub role: Role,
    /// Whether the member accepted the invitation ([`MemberEvent::Join`]); only joined
    /// members change the entity.
    pub joined: bool,
}

/// A membership event: an intent on a shared entity that changes who belongs to it. Its
/// wire form is internally tagged like domain events: `{"type":"sai.member.invite",…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MemberEvent {
    /// An owner invites `user` with `role`.
    #[serde(rename = "sai.member.invite")]
    Invite {
        /// The invited user.
        user: String,
        /// The role they will have.
        role: Role,
    },
    /// The acting user accepts their invitation.
    #[serde(rename = "sai.member.join")]
    Join,
    /// An owner gives `user` another role.
    #[serde(rename = "sai.member.change_role")]
    ChangeRole {
        /// The member.
        user: String,
        /// The new role.
        role: Role,
    },
    /// The acting user leaves the group (or declines an invitation).
    #[serde(rename = "sai.member.leave")]
    Leave,
    /// An owner removes `user` from the group.
    #[serde(rename = "sai.member.remove")]
    Remove {
        /// The member removed.
        user: String,
    },
}

/// The prefix of every membership event's wire type.
pub const MEMBER_EVENT_PREFIX: &str = "sai.member.";

/// The payload version of membership events.
pub const MEMBER_EVENT_VERSION: u32 = 1;

impl MemberEvent {
    /// Every wire type, in declaration order.
    pub const TYPES: [&'static str; 5] = [
        "sai.member.invite",
        "sai.member.join",
        "sai.member.change_role",
        "sai.member.leave",
        "sai.member.remove",
    ];

    /// The event's wire type (`sai.member.invite`, …).
    pub fn event_type(&self) -> &'static str {
        match self {
            MemberEvent::Invite { .. } => Self::TYPES[0],
            MemberEvent::Join => Self::TYPES[1],
            MemberEvent::ChangeRole { .. } => Self::TYPES[2],
            MemberEvent::Leave => Self::TYPES[3],
            MemberEvent::Remove { .. } => Self::TYPES[4],
        }
    }

    /// The event as an intent of `user` on client `client_id` (its `seq`-th of this domain)
    /// on entity `entity_id`, in its stored form: membership intents travel like domain ones.
    pub fn to_raw(
        &self,
        entity_id: uuid::Uuid,
        client_id: impl Into<String>,
        user_id: impl Into<String>,
        seq: u64,
        created_at: crate::intent::Timestamp,
    ) -> crate::intent::RawIntent {
        crate::intent::RawIntent {
            id: uuid::Uuid::now_v7(),
            entity_id,
            client_id: client_id.into(),
            user_id: user_id.into(),
            seq,
            event_type: self.event_type().to_owned(),
            event_version: MEMBER_EVENT_VERSION,
            // A plain enum of strings: encoding cannot fail.
            payload: serde_json::to_string(self).unwrap_or_default(),
            created_at,
        }
    }

    /// Whether an intent of this wire type is a membership event.
    pub fn is_member_type(event_type: &str) -> bool {
        event_type.starts_with(MEMBER_EVENT_PREFIX)
    }
}

/// Why [`Members::apply`] refused a membership event (the rejection `membership_refused`
/// carries it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MembershipRefusal {
    /// Only an owner who joined may invite, change roles or remove.
    #[error("{actor} is not an owner of this group")]
    NotOwner {
        /// The acting user.
        actor: String,
    },
    /// The user named (or the actor) does not belong to the group.
    #[error("{user} is not a member of this group")]
    NotMember {
        /// The user.
        user: String,
    },
    /// The invited user already belongs to the group (or is invited).
    #[error("{user} is already a member of this group")]
    AlreadyMember {
        /// The user.
        user: String,
    },
    /// The acting user has no invitation to accept, or already joined.
    #[error("{user} has no pending invitation")]
    NotInvited {
        /// The user.
        user: String,
    },
    /// The step would leave the group without an owner who joined.
    #[error("the group would be left without an owner")]
    LastOwner,
}

/// The members of one shared entity, by user id. Stored as JSON in the projection's
/// `members` column: `{"alice":{"role":"owner","joined":true}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Members {
    by_user: BTreeMap<String, Member>,
}

impl Members {
    /// The group of a new entity: `creator` as its joined owner.
    pub fn created_by(creator: &str) -> Self {
        let mut by_user = BTreeMap::new();
        by_user.insert(
            creator.to_owned(),
            Member {
                role: Role::Owner,
                joined: true,
            },
        );
        Members { by_user }
    }

    /// Reads the `members` column.
    pub fn from_json(json: &str) -> serde_json::Result<Self> {
        serde_json::from_str(json)
    }

    /// The `members` column's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.by_user).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The user's place in the group, if they belong to it (invited or joined).
    pub fn member(&self, user: &str) -> Option<Member> {
        self.by_user.get(user).copied()
    }

    /// The user's role once they joined; `None` for an invitee who did not join yet and for
    /// a user outside the group.
    pub fn role_of(&self, user: &str) -> Option<Role> {
        self.member(user).filter(|m| m.joined).map(|m| m.role)
    }

    /// Whether the user may change the entity: a joined editor or owner.
    pub fn may_write(&self, user: &str) -> bool {
        self.role_of(user).is_some_and(Role::writes)
    }

    /// Whether the user receives the entity: every member, joined or invited.
    pub fn reads(&self, user: &str) -> bool {
        self.by_user.contains_key(user)
    }

    /// Every member's user id, in order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.by_user.keys().map(String::as_str)
    }

    /// The group after `actor`'s `event`, or why it is refused; `self` never changes.
    pub fn apply(&self, actor: &str, event: &MemberEvent) -> Result<Members, MembershipRefusal> {
        let mut next = self.clone();
        let owner = || {
            if self.role_of(actor) == Some(Role::Owner) {
                Ok(())
            } else {
                Err(MembershipRefusal::NotOwner {
                    actor: actor.to_owned(),
                })
            }
        };
        let not_member = |user: &str| MembershipRefusal::NotMember {
            user: user.to_owned(),
        };
        match event {
            MemberEvent::Invite { user, role } => {
                owner()?;
                if self.reads(user) {
                    return Err(MembershipRefusal::AlreadyMember { user: user.clone() });
                }
                next.by_user.insert(
                    user.clone(),
                    Member {
                        role: *role,
                        joined: false,
                    },
                );
            }
            MemberEvent::Join => match next.by_user.get_mut(actor) {
                Some(m) if !m.joined => m.joined = true,
                _ => {
                    return Err(MembershipRefusal::NotInvited {
                        user: actor.to_owned(),
                    });
                }
            },
            MemberEvent::ChangeRole { user, role } => {
                owner()?;
                next.by_user
                    .get_mut(user)
                    .ok_or_else(|| not_member(user))?
                    .role = *role;
            }
            MemberEvent::Leave => {
                next.by_user
                    .remove(actor)
                    .ok_or_else(|| not_member(actor))?;
            }
            MemberEvent::Remove { user } => {
                owner()?;
                next.by_user.remove(user).ok_or_else(|| not_member(user))?;
            }
        }
        if !next
            .by_user
            .values()
            .any(|m| m.joined && m.role == Role::Owner)
        {
            return Err(MembershipRefusal::LastOwner);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(user: &str, role: Role) -> MemberEvent {
        MemberEvent::Invite {
            user: user.into(),
            role,
        }
    }

    #[test]
    fn an_invited_editor_writes_once_joined() {
        let g = Members::created_by("alice");
        let g = g.apply("alice", &invite("bob", Role::Editor)).unwrap();
        assert!(g.reads("bob") && !g.may_write("bob"));
        let g = g.apply("bob", &MemberEvent::Join).unwrap();
        assert_eq!(g.role_of("bob"), Some(Role::Editor));
        assert!(g.may_write("bob") && !g.reads("carol"));
    }

    #[test]
    fn only_owners_manage_and_a_group_keeps_an_owner() {
        let g = Members::created_by("alice")
            .apply("alice", &invite("bob", Role::Editor))
            .unwrap()
            .apply("bob", &MemberEvent::Join)
            .unwrap();
        assert_eq!(
            g.apply("bob", &invite("carol", Role::Viewer)),
            Err(MembershipRefusal::NotOwner {
                actor: "bob".into()
            })
        );
        assert_eq!(
            g.apply("alice", &MemberEvent::Leave),
            Err(MembershipRefusal::LastOwner)
        );
        assert_eq!(
            g.apply("alice", &invite("bob", Role::Viewer)),
            Err(MembershipRefusal::AlreadyMember { user: "bob".into() })
        );
        let g = g
            .apply(
                "alice",
                &MemberEvent::ChangeRole {
                    user: "bob".into(),
                    role: Role::Viewer,
                },
            )
            .unwrap();
        assert!(g.reads("bob") && !g.may_write("bob"));
        let g = g
            .apply("alice", &MemberEvent::Remove { user: "bob".into() })
            .unwrap();
        assert!(!g.reads("bob"));
    }

    #[test]
    fn wire_form_is_stable() {
        let e = invite("bob", Role::Editor);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"sai.member.invite","user":"bob","role":"editor"}"#
        );
        assert_eq!(e.event_type(), "sai.member.invite");
        let g = Members::created_by("alice");
        assert_eq!(g.to_json(), r#"{"alice":{"role":"owner","joined":true}}"#);
        assert_eq!(Members::from_json(&g.to_json()).unwrap(), g);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

        fn role() -> impl Strategy<Value = Role> {
            prop_oneof![Just(Role::Viewer), Just(Role::Editor), Just(Role::Owner)]
        }

        fn step() -> impl Strategy<Value = (usize, MemberEvent)> {
            let user = 0..USERS.len();
            let event = prop_oneof![
                (0..USERS.len(), role()).prop_map(|(u, role)| MemberEvent::Invite {
                    user: USERS[u].into(),
                    role
                }),
                Just(MemberEvent::Join),
                (0..USERS.len(), role()).prop_map(|(u, role)| MemberEvent::ChangeRole {
                    user: USERS[u].into(),
                    role
                }),
                Just(MemberEvent::Leave),
                (0..USERS.len()).prop_map(|u| MemberEvent::Remove {
                    user: USERS[u].into()
                }),
            ];
            (user, event)
        }

        proptest! {
            /// Whatever happens, the group keeps a joined owner, only joined editors and
            /// owners write, a refused event changes nothing, and the stored form reads back.
            #[test]
            fn a_group_keeps_an_owner_and_refusals_change_nothing(
                steps in proptest::collection::vec(step(), 0..40)
            ) {
                let mut group = Members::created_by("alice");
                for (actor, event) in steps {
                    let actor = USERS[actor];
                    let before = group.clone();
                    match group.apply(actor, &event) {
                        Ok(next) => group = next,
                        Err(_) => prop_assert_eq!(&group, &before),
                    }
                    prop_assert!(group.users().any(|u| group.role_of(u) == Some(Role::Owner)));
                    for u in USERS {
                        let writes = group.member(u).is_some_and(|m| m.joined && m.role.writes());
                        prop_assert_eq!(group.may_write(u), writes);
                        prop_assert!(!group.may_write(u) || group.reads(u));
                    }
                    prop_assert_eq!(Members::from_json(&group.to_json()).unwrap(), group.clone());
                }
            }
        }
    }
}
