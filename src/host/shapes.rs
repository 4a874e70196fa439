//! Reading what the Functions `pubnub` module answers. Its response shapes are partly
//! undocumented (docs/design.md §1): it may return the JS SDK's normalized objects or the raw
//! REST payloads, so each reader accepts both. Pure, so it is tested natively.

use super::{ChannelOccupancy, HereNow, HostError, Member, MembersPage, UserRecord, UsersPage};
use crate::domain::{Json, JsonObject};
#[allow(unused_imports)]
use crate::prelude::*;

/// `publish`/`fire`: `[1,"Sent","<tt>"]` (raw) or `{timetoken}` (SDK). `[0,"reason"]` failed.
pub fn publish_result(v: &Json) -> Result<(), HostError> {
    match v {
        Json::Arr(items) => match items.first() {
            Some(Json::Num(n)) if *n == 1.0 => Ok(()),
            _ => {
                let reason = items.get(1).and_then(|r| if let Json::Str(s) = r { Some(s.clone()) } else { None });
                Err(HostError::Rejected { status: 0, message: reason.unwrap_or_else(|| "publish failed".into()) })
            }
        },
        _ => Ok(()),
    }
}

fn uuid_list(v: Option<&Json>) -> Vec<String> {
    let Some(Json::Arr(items)) = v else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| match item {
            Json::Str(s) => Some(s.clone()),
            Json::Obj(o) => o.str("uuid").map(str::to_owned),
            _ => None,
        })
        .collect()
}

fn occupancy(o: &JsonObject) -> u64 {
    o.u64("occupancy").unwrap_or(0)
}

/// SDK: `{totalOccupancy, channels:{ch:{occupancy, occupants:[{uuid}]}}}`.
/// Raw multi-channel: `{payload:{total_occupancy, channels:{ch:{occupancy, uuids}}}}`.
/// Raw single-channel: `{occupancy, uuids}` (only `requested[0]`).
pub fn here_now(v: &Json, requested: &[String]) -> Result<HereNow, HostError> {
    let top = v.as_object().ok_or(HostError::BadResponse("hereNow"))?;
    let body = top.get("payload").and_then(Json::as_object).unwrap_or(top);
    let mut out = HereNow::default();
    if let Some(channels) = body.get("channels").and_then(Json::as_object) {
        for (name, entry) in &channels.0 {
            let Some(e) = entry.as_object() else { continue };
            let uuids = if e.get("occupants").is_some() { uuid_list(e.get("occupants")) } else { uuid_list(e.get("uuids")) };
            out.channels.push(ChannelOccupancy { channel: name.clone(), occupancy: occupancy(e), uuids });
        }
        out.total_occupancy = body
            .u64("totalOccupancy")
            .or_else(|| body.u64("total_occupancy"))
            .unwrap_or_else(|| out.channels.iter().map(|c| c.occupancy).sum());
    } else if body.get("occupancy").is_some() {
        let channel = requested.first().cloned().unwrap_or_default();
        let occ = occupancy(body);
        out.channels.push(ChannelOccupancy { channel, occupancy: occ, uuids: uuid_list(body.get("uuids")) });
        out.total_occupancy = occ;
    } else {
        return Err(HostError::BadResponse("hereNow"));
    }
    Ok(out)
}

/// A UUID metadata object (`data` of get/set, or an element of getAll's `data`).
pub fn user(v: &Json) -> Option<UserRecord> {
    let o = v.as_object()?;
    Some(UserRecord {
        id: o.str("id")?.to_owned(),
        name: o.str("name").map(str::to_owned),
        profile_url: o.str("profileUrl").map(str::to_owned),
        custom: o.get("custom").and_then(Json::as_object).cloned().unwrap_or_default(),
        etag: o.str("eTag").map(str::to_owned),
    })
}

/// `{status, data: {...}}` → the user.
pub fn user_response(v: &Json) -> Result<Option<UserRecord>, HostError> {
    let data = v.as_object().and_then(|o| o.get("data")).ok_or(HostError::BadResponse("getUUIDMetadata"))?;
    match data {
        Json::Null => Ok(None),
        d => user(d).map(Some).ok_or(HostError::BadResponse("getUUIDMetadata")),
    }
}

pub fn users_response(v: &Json) -> Result<Vec<UserRecord>, HostError> {
    match v.as_object().and_then(|o| o.get("data")) {
        Some(Json::Arr(items)) => Ok(items.iter().filter_map(user).collect()),
        _ => Err(HostError::BadResponse("getAllUUIDMetadata")),
    }
}

/// `{data: [...], next}` of `getAllUUIDMetadata`, keeping the page cursor.
pub fn users_page(v: &Json) -> Result<UsersPage, HostError> {
    let users = users_response(v)?;
    let next = v.as_object().and_then(|o| o.str("next")).map(str::to_owned);
    Ok(UsersPage { users, next })
}

pub fn members_response(v: &Json) -> Result<MembersPage, HostError> {
    let o = v.as_object().ok_or(HostError::BadResponse("getChannelMembers"))?;
    let Some(Json::Arr(items)) = o.get("data") else { return Err(HostError::BadResponse("getChannelMembers")) };
    let members = items
        .iter()
        .filter_map(|item| {
            let m = item.as_object()?;
            // `uuid` is an object with UUIDFields, or just the id.
            let user = match m.get("uuid")? {
                Json::Str(id) => UserRecord { id: id.clone(), ..Default::default() },
                other => user(other)?,
            };
            Some(Member { user, custom: m.get("custom").and_then(Json::as_object).cloned().unwrap_or_default() })
        })
        .collect();
    Ok(MembersPage { members, next: o.str("next").map(str::to_owned), total: o.u64("totalCount") })
}

/// `{data: [{channel: {id} | id, custom}]}` of `getMemberships` → (channel, custom).
pub fn memberships_response(v: &Json) -> Result<Vec<(String, JsonObject)>, HostError> {
    let Some(Json::Arr(items)) = v.as_object().and_then(|o| o.get("data")) else { return Err(HostError::BadResponse("getMemberships")) };
    Ok(items
        .iter()
        .filter_map(|item| {
            let m = item.as_object()?;
            let channel = match m.get("channel")? {
                Json::Str(id) => id.clone(),
                Json::Obj(c) => c.str("id")?.to_owned(),
                _ => return None,
            };
            Some((channel, m.get("custom").and_then(Json::as_object).cloned().unwrap_or_default()))
        })
        .collect())
}

pub fn channels_response(v: &Json) -> Result<Vec<String>, HostError> {
    let o = v.as_object().ok_or(HostError::BadResponse("listChannels"))?;
    let list = o.get("channels").or_else(|| o.get("payload").and_then(Json::as_object).and_then(|p| p.get("channels")));
    match list {
        Some(Json::Arr(items)) => Ok(items.iter().filter_map(|c| if let Json::Str(s) = c { Some(s.clone()) } else { None }).collect()),
        _ => Err(HostError::BadResponse("listChannels")),
    }
}

/// An App Context filter matching any of `ids` on `field` (`id` or `uuid.id`).
pub fn id_filter(field: &str, ids: &[&str]) -> String {
    let mut s = String::new();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push_str(" || ");
        }
        s.push_str(field);
        s.push_str(" == \"");
        for c in id.chars() {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
    }
    s
}
