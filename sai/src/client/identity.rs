//! Who writes: the device (client) and the user acting on it.

/// The client (device / installation) and user that intents are written for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    /// Stable id of this client; sequence numbers count per client and domain.
    pub client_id: String,
    /// The acting user.
    pub user_id: String,
}

impl ClientIdentity {
    /// An identity.
    pub fn new(client_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        ClientIdentity {
            client_id: client_id.into(),
            user_id: user_id.into(),
        }
    }
}
