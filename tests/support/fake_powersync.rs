//! An in-process stand-in for the PowerSync *service* (which cannot run here), speaking the real
//! sync protocol to the real `powersync` client: `POST /sync/stream` answers NDJSON
//! `checkpoint` / `checkpoint_diff`, `data`, `partial_checkpoint_complete` and
//! `checkpoint_complete` lines, and `GET /write-checkpoint2.json` hands out write checkpoints.
//!
//! What it serves comes from [`FakeService::publish`]: the full set of rows a user may see (what
//! the sync rules select on the server). The service diffs that set against what it already
//! holds and appends PUT / REMOVE operations to the user's bucket, with checksums that add up
//! the way the client verifies them. The user is the token (`Authorization: Token <user>`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use powersync::error::PowerSyncError;
use powersync::http::{HttpClient, Request, Response, ResponseBody};
use serde_json::{Value, json};
use tokio::sync::watch;

/// One row a user may see: its table (the client schema's name), id and columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncRow {
    /// Table name, the `object_type` of the operation.
    pub table: String,
    /// Row id.
    pub id: String,
    /// Columns as a JSON object (without `id`).
    pub data: Value,
}

impl From<sai::sync::SyncRow> for SyncRow {
    fn from(row: sai::sync::SyncRow) -> Self {
        SyncRow {
            data: row.to_json(),
            table: row.table,
            id: row.id,
        }
    }
}

#[derive(Clone)]
struct Op {
    op_id: i64,
    op: &'static str,
    table: String,
    id: String,
    data: Option<String>,
    checksum: u32,
}

#[derive(Default)]
struct Bucket {
    ops: Vec<Op>,
    checksum: u32,
    /// (table, id) → data currently visible.
    rows: BTreeMap<(String, String), String>,
}

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    last_op_id: i64,
    write_checkpoint: i64,
    stream_requests: u64,
}

/// The fake service. Clone it freely; clones share state.
#[derive(Clone)]
pub struct FakeService {
    state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
    bucket_prefix: String,
}

impl FakeService {
    /// A service whose buckets are named `{bucket_prefix}["<user>"]` (the sync rules' names).
    pub fn new(bucket_prefix: &str) -> Self {
        FakeService {
            state: Arc::default(),
            changed: Arc::new(watch::channel(0).0),
            bucket_prefix: bucket_prefix.to_owned(),
        }
    }

    /// An HTTP client for the `powersync` crate that talks to this service.
    pub fn client(&self) -> FakeClient {
        FakeClient(self.clone())
    }

    fn bucket_name(&self, user: &str) -> String {
        format!("{}[\"{}\"]", self.bucket_prefix, user)
    }

    /// Replaces what `user` can see with `rows`, as replication would after a server commit.
    pub fn publish(&self, user: &str, rows: Vec<SyncRow>) {
        let name = self.bucket_name(user);
        let mut state = self.state.lock().unwrap();
        let mut next_op = state.last_op_id;
        let bucket = state.buckets.entry(name).or_default();
        let mut wanted: BTreeMap<(String, String), String> = BTreeMap::new();
        for row in rows {
            wanted.insert((row.table, row.id), row.data.to_string());
        }
        let mut ops = Vec::new();
        for (key, data) in &wanted {
            if bucket.rows.get(key) != Some(data) {
                next_op += 1;
                ops.push(Op {
                    op_id: next_op,
                    op: "PUT",
                    table: key.0.clone(),
                    id: key.1.clone(),
                    data: Some(data.clone()),
                    checksum: checksum(next_op, data),
                });
            }
        }
        for key in bucket.rows.keys() {
            if !wanted.contains_key(key) {
                next_op += 1;
                ops.push(Op {
                    op_id: next_op,
                    op: "REMOVE",
                    table: key.0.clone(),
                    id: key.1.clone(),
                    data: None,
                    checksum: checksum(next_op, ""),
                });
            }
        }
        for op in &ops {
            bucket.checksum = bucket.checksum.wrapping_add(op.checksum);
        }
        bucket.ops.extend(ops);
        bucket.rows = wanted;
        state.last_op_id = next_op;
        drop(state);
        self.changed.send_modify(|v| *v += 1);
    }

    /// How many sync streams clients have opened (reconnects count).
    pub fn stream_requests(&self) -> u64 {
        self.state.lock().unwrap().stream_requests
    }

    fn checkpoint_lines(&self, user: &str, after: i64, first: bool) -> (Vec<Value>, i64) {
        let state = self.state.lock().unwrap();
        let name = self.bucket_name(user);
        let empty = Bucket::default();
        let bucket = state.buckets.get(&name).unwrap_or(&empty);
        let description = json!({
            "bucket": name,
            "checksum": bucket.checksum,
            "count": bucket.ops.len(),
            "priority": 0,
        });
        let last = state.last_op_id.to_string();
        let write_checkpoint = state.write_checkpoint.to_string();
        let mut lines = vec![if first {
            json!({"checkpoint": {"last_op_id": last, "write_checkpoint": write_checkpoint, "buckets": [description]}})
        } else {
            json!({"checkpoint_diff": {"last_op_id": last, "write_checkpoint": write_checkpoint, "updated_buckets": [description], "removed_buckets": []}})
        }];
        let new: Vec<Value> = bucket
            .ops
            .iter()
            .filter(|op| op.op_id > after)
            .map(|op| {
                json!({
                    "op_id": op.op_id.to_string(),
                    "op": op.op,
                    "object_type": op.table,
                    "object_id": op.id,
                    "checksum": op.checksum,
                    "data": op.data,
                })
            })
            .collect();
        if !new.is_empty() {
            lines.push(json!({"data": {"bucket": name, "data": new}}));
        }
        lines.push(json!({"partial_checkpoint_complete": {"last_op_id": last, "priority": 0}}));
        lines.push(json!({"checkpoint_complete": {"last_op_id": last}}));
        (lines, state.last_op_id)
    }

    fn open_stream(&self, user: String, request: &Value) -> Response {
        self.state.lock().unwrap().stream_requests += 1;
        let name = self.bucket_name(&user);
        let mut after: i64 = request["buckets"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["name"] == name.as_str()))
            .and_then(|b| b["after"].as_str())
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let service = self.clone();
        let mut changes = self.changed.subscribe();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                changes.borrow_and_update();
                let (lines, last) = service.checkpoint_lines(&user, after, first);
                first = false;
                after = last;
                for line in lines {
                    let mut text = line.to_string();
                    text.push('\n');
                    if tx.send(Bytes::from(text)).is_err() {
                        return; // the client hung up
                    }
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
        });
        let body = futures_lite::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|bytes| (Ok(bytes), rx))
        });
        Response {
            status: 200,
            content_type: Some("application/x-ndjson".into()),
            body: ResponseBody {
                reader: Box::pin(body),
                length: None,
            },
        }
    }

    fn write_checkpoint(&self) -> Response {
        let mut state = self.state.lock().unwrap();
        state.write_checkpoint += 1;
        let value = state.write_checkpoint;
        drop(state);
        // The next checkpoint line carries the new value, so the client can apply it.
        self.changed.send_modify(|v| *v += 1);
        json_response(
            200,
            &json!({"data": {"write_checkpoint": value.to_string()}}),
        )
    }
}

/// A checksum for one operation; any u32 works as long as the bucket sums agree.
fn checksum(op_id: i64, data: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for b in op_id.to_le_bytes().iter().chain(data.as_bytes()) {
        h = (h ^ u32::from(*b)).wrapping_mul(16777619);
    }
    h
}

fn json_response(status: u16, body: &Value) -> Response {
    let bytes = Bytes::from(body.to_string());
    let length = bytes.len() as u64;
    Response {
        status,
        content_type: Some("application/json".into()),
        body: ResponseBody {
            reader: Box::pin(futures_lite::stream::once(Ok(bytes))),
            length: Some(length),
        },
    }
}

/// The `powersync` crate's view of the fake service.
pub struct FakeClient(FakeService);

#[async_trait]
impl HttpClient for FakeClient {
    async fn send(&self, req: Request) -> Result<Response, PowerSyncError> {
        let user = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.strip_prefix("Token ").map(str::to_owned));
        let Some(user) = user else {
            return Ok(json_response(401, &json!({"error": "no token"})));
        };
        match (req.method, req.url.path()) {
            ("POST", "/sync/stream") => {
                let body: Value = req
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Ok(self.0.open_stream(user, &body))
            }
            ("GET", "/write-checkpoint2.json") => Ok(self.0.write_checkpoint()),
            _ => Ok(json_response(404, &json!({"error": "not found"}))),
        }
    }
}
