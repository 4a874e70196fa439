//! `PubNub` and `KvStore` over the JS modules PubNub Functions hands to the shims.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use wasm_bindgen::JsValue;

use super::sys::{self, get, object, string_array, Method};
use crate::domain::json::FromJson;
use crate::domain::{Json, JsonObject, UserId};
use crate::host::{
    shapes, HereNow, HostError, HostResult, KvStore, Member, MemberFilter, MembersPage, OpKind, PubNub, UserFilter, UserRecord, UsersPage,
};

fn to_js<T: Serialize + ?Sized>(v: &T) -> HostResult<JsValue> {
    sys::to_js(v).map_err(HostError::BadResponse)
}

fn to_json(v: &JsValue, what: &'static str) -> HostResult<Json> {
    sys::to_json(v, what).map_err(HostError::BadResponse)
}

/// The `pubnub` module, methods looked up once.
pub struct JsPubNub {
    publish: Method,
    fire: Method,
    here_now: Method,
    get_uuid: Method,
    get_all_uuid: Method,
    set_uuid: Method,
    get_members: Method,
    set_members: Method,
    remove_members: Method,
    add_channels: Method,
    remove_channels: Method,
    list_channels: Method,
}

impl JsPubNub {
    pub fn new(module: &JsValue) -> Self {
        let objects = get(module, "objects");
        let groups = get(module, "channelGroups");
        JsPubNub {
            publish: Method::lookup(module, "publish", "pubnub.publish", OpKind::Publish),
            fire: Method::lookup(module, "fire", "pubnub.fire", OpKind::Publish),
            here_now: Method::lookup(module, "hereNow", "pubnub.hereNow", OpKind::Api),
            get_uuid: Method::lookup(&objects, "getUUIDMetadata", "pubnub.objects.getUUIDMetadata", OpKind::Api),
            get_all_uuid: Method::lookup(&objects, "getAllUUIDMetadata", "pubnub.objects.getAllUUIDMetadata", OpKind::Api),
            set_uuid: Method::lookup(&objects, "setUUIDMetadata", "pubnub.objects.setUUIDMetadata", OpKind::Api),
            get_members: Method::lookup(&objects, "getChannelMembers", "pubnub.objects.getChannelMembers", OpKind::Api),
            set_members: Method::lookup(&objects, "setChannelMembers", "pubnub.objects.setChannelMembers", OpKind::Api),
            remove_members: Method::lookup(&objects, "removeChannelMembers", "pubnub.objects.removeChannelMembers", OpKind::Api),
            add_channels: Method::lookup(&groups, "addChannels", "pubnub.channelGroups.addChannels", OpKind::Api),
            remove_channels: Method::lookup(&groups, "removeChannels", "pubnub.channelGroups.removeChannels", OpKind::Api),
            list_channels: Method::lookup(&groups, "listChannels", "pubnub.channelGroups.listChannels", OpKind::Api),
        }
    }

    async fn send(&self, method: &Method, channel: &str, message: JsValue) -> HostResult<()> {
        let params = object(&[("channel", JsValue::from_str(channel)), ("message", message)]);
        let result = method.call(&[params]).await?;
        shapes::publish_result(&to_json(&result, method.name)?)
    }
}

fn include_custom() -> JsValue {
    object(&[("customFields", JsValue::TRUE)])
}

impl PubNub for JsPubNub {
    async fn publish<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()> {
        self.send(&self.publish, channel, to_js(message)?).await
    }

    async fn fire<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()> {
        self.send(&self.fire, channel, to_js(message)?).await
    }

    async fn here_now(&self, channels: &[String], include_uuids: bool, limit: u32, offset: u32) -> HostResult<HereNow> {
        let mut params = vec![
            ("channels", string_array(channels)),
            ("includeUUIDs", JsValue::from_bool(include_uuids)),
            ("includeState", JsValue::FALSE),
        ];
        if include_uuids {
            params.push(("limit", JsValue::from_f64(limit as f64)));
            params.push(("offset", JsValue::from_f64(offset as f64)));
        }
        let result = self.here_now.call(&[object(&params)]).await?;
        shapes::here_now(&to_json(&result, "hereNow")?, channels)
    }

    async fn get_user(&self, id: &UserId) -> HostResult<Option<UserRecord>> {
        let params = object(&[("uuid", JsValue::from_str(id.as_str())), ("include", include_custom())]);
        match self.get_uuid.call(&[params]).await {
            Ok(v) => shapes::user_response(&to_json(&v, "getUUIDMetadata")?),
            Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_users(&self, ids: &[UserId]) -> HostResult<Vec<UserRecord>> {
        let list: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        let params = object(&[
            ("filter", JsValue::from_str(&shapes::id_filter("id", &list))),
            ("include", include_custom()),
            ("limit", JsValue::from_f64(100.0)),
        ]);
        let result = self.get_all_uuid.call(&[params]).await?;
        shapes::users_response(&to_json(&result, "getAllUUIDMetadata")?)
    }

    async fn list_users(&self, filter: UserFilter, limit: u32, next: Option<&str>) -> HostResult<UsersPage> {
        let mut params = vec![
            ("filter", JsValue::from_str(&filter.expression())),
            ("sort", object(&[("id", JsValue::from_str("asc"))])),
            ("include", include_custom()),
            ("limit", JsValue::from_f64(limit.clamp(1, 100) as f64)),
        ];
        if let Some(next) = next {
            params.push(("page", object(&[("next", JsValue::from_str(next))])));
        }
        let result = self.get_all_uuid.call(&[object(&params)]).await?;
        shapes::users_page(&to_json(&result, "getAllUUIDMetadata")?)
    }

    async fn set_user_custom(&self, id: &UserId, custom: &JsonObject, if_match: Option<&str>) -> HostResult<()> {
        let mut params = vec![("uuid", JsValue::from_str(id.as_str())), ("data", object(&[("custom", to_js(custom)?)]))];
        if let Some(tag) = if_match {
            params.push(("ifMatchesEtag", JsValue::from_str(tag)));
        }
        self.set_uuid.call(&[object(&params)]).await.map(|_| ())
    }

    async fn get_members(&self, channel: &str, filter: MemberFilter, limit: u32, next: Option<&str>) -> HostResult<MembersPage> {
        let mut params = vec![
            ("channel", JsValue::from_str(channel)),
            ("limit", JsValue::from_f64(limit.clamp(1, 100) as f64)),
            (
                "include",
                object(&[
                    ("customFields", JsValue::TRUE),
                    ("UUIDFields", JsValue::TRUE),
                    ("customUUIDFields", JsValue::TRUE),
                    ("totalCount", JsValue::TRUE),
                ]),
            ),
        ];
        if let Some(next) = next {
            params.push(("page", object(&[("next", JsValue::from_str(next))])));
        }
        if let Some(expr) = filter.expression() {
            params.push(("filter", JsValue::from_str(expr)));
        }
        let result = self.get_members.call(&[object(&params)]).await?;
        shapes::members_response(&to_json(&result, "getChannelMembers")?)
    }

    async fn get_member(&self, channel: &str, user: &UserId) -> HostResult<Option<Member>> {
        let params = object(&[
            ("channel", JsValue::from_str(channel)),
            ("filter", JsValue::from_str(&shapes::id_filter("uuid.id", &[user.as_str()]))),
            ("limit", JsValue::from_f64(1.0)),
            ("include", object(&[("customFields", JsValue::TRUE), ("UUIDFields", JsValue::TRUE)])),
        ]);
        let result = self.get_members.call(&[params]).await?;
        let page = shapes::members_response(&to_json(&result, "getChannelMembers")?)?;
        Ok(page.members.into_iter().find(|m| m.user.id == user.as_str()))
    }

    async fn set_members(&self, channel: &str, members: &[(UserId, JsonObject)]) -> HostResult<()> {
        let list = js_sys::Array::new();
        for (id, custom) in members {
            list.push(&object(&[("id", JsValue::from_str(id.as_str())), ("custom", to_js(custom)?)]));
        }
        let params = object(&[("channel", JsValue::from_str(channel)), ("uuids", list.into())]);
        self.set_members.call(&[params]).await.map(|_| ())
    }

    async fn remove_members(&self, channel: &str, users: &[UserId]) -> HostResult<()> {
        let ids: Vec<String> = users.iter().map(|u| u.as_str().to_owned()).collect();
        let params = object(&[("channel", JsValue::from_str(channel)), ("uuids", string_array(&ids))]);
        self.remove_members.call(&[params]).await.map(|_| ())
    }

    async fn add_channels(&self, group: &str, channels: &[String]) -> HostResult<()> {
        let params = object(&[("channelGroup", JsValue::from_str(group)), ("channels", string_array(channels))]);
        self.add_channels.call(&[params]).await.map(|_| ())
    }

    async fn remove_channels(&self, group: &str, channels: &[String]) -> HostResult<()> {
        let params = object(&[("channelGroup", JsValue::from_str(group)), ("channels", string_array(channels))]);
        self.remove_channels.call(&[params]).await.map(|_| ())
    }

    async fn list_channels(&self, group: &str) -> HostResult<Vec<String>> {
        let result = self.list_channels.call(&[object(&[("channelGroup", JsValue::from_str(group))])]).await?;
        shapes::channels_response(&to_json(&result, "listChannels")?)
    }
}

/// The `kvstore` module, methods looked up once.
pub struct JsKvStore {
    get: Method,
    set: Method,
    remove: Method,
    incr: Method,
    counter: Method,
}

impl JsKvStore {
    pub fn new(module: &JsValue) -> Self {
        JsKvStore {
            get: Method::lookup(module, "get", "kvstore.get", OpKind::Kv),
            set: Method::lookup(module, "set", "kvstore.set", OpKind::Kv),
            remove: Method::lookup(module, "removeItem", "kvstore.removeItem", OpKind::Kv),
            incr: Method::lookup(module, "incrCounter", "kvstore.incrCounter", OpKind::Kv),
            counter: Method::lookup(module, "getCounter", "kvstore.getCounter", OpKind::Kv),
        }
    }
}

fn number(v: &JsValue, what: &'static str) -> HostResult<i64> {
    match v.as_f64() {
        Some(n) => Ok(n as i64),
        None if v.is_null() || v.is_undefined() => Ok(0),
        None => v.as_string().and_then(|s| s.parse().ok()).ok_or(HostError::BadResponse(what)),
    }
}

impl KvStore for JsKvStore {
    async fn get<T: FromJson>(&self, key: &str) -> HostResult<Option<T>> {
        let v = self.get.call(&[JsValue::from_str(key)]).await?;
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        T::from_json(&to_json(&v, "kvstore.get")?).map(Some).map_err(HostError::BadResponse)
    }

    async fn set<T: Serialize>(&self, key: &str, value: &T, ttl_minutes: u32) -> HostResult<()> {
        let args = [JsValue::from_str(key), to_js(value)?, JsValue::from_f64(ttl_minutes as f64)];
        self.set.call(&args).await.map(|_| ())
    }

    async fn remove(&self, key: &str) -> HostResult<()> {
        self.remove.call(&[JsValue::from_str(key)]).await.map(|_| ())
    }

    async fn incr_counter(&self, key: &str, by: i64) -> HostResult<i64> {
        let v = self.incr.call(&[JsValue::from_str(key), JsValue::from_f64(by as f64)]).await?;
        number(&v, "kvstore.incrCounter")
    }

    async fn get_counter(&self, key: &str) -> HostResult<i64> {
        let v = self.counter.call(&[JsValue::from_str(key)]).await?;
        number(&v, "kvstore.getCounter")
    }
}

/// Both modules as one host for the handlers.
pub struct JsHost {
    pub pubnub: JsPubNub,
    pub kv: JsKvStore,
}

impl PubNub for JsHost {
    async fn publish<M: Serialize>(&self, c: &str, m: &M) -> HostResult<()> {
        self.pubnub.publish(c, m).await
    }
    async fn fire<M: Serialize>(&self, c: &str, m: &M) -> HostResult<()> {
        self.pubnub.fire(c, m).await
    }
    async fn here_now(&self, c: &[String], u: bool, l: u32, o: u32) -> HostResult<HereNow> {
        self.pubnub.here_now(c, u, l, o).await
    }
    async fn get_user(&self, id: &UserId) -> HostResult<Option<UserRecord>> {
        self.pubnub.get_user(id).await
    }
    async fn get_users(&self, ids: &[UserId]) -> HostResult<Vec<UserRecord>> {
        self.pubnub.get_users(ids).await
    }
    async fn list_users(&self, f: UserFilter, l: u32, n: Option<&str>) -> HostResult<UsersPage> {
        self.pubnub.list_users(f, l, n).await
    }
    async fn set_user_custom(&self, id: &UserId, c: &JsonObject, m: Option<&str>) -> HostResult<()> {
        self.pubnub.set_user_custom(id, c, m).await
    }
    async fn get_members(&self, c: &str, f: MemberFilter, l: u32, n: Option<&str>) -> HostResult<MembersPage> {
        self.pubnub.get_members(c, f, l, n).await
    }
    async fn get_member(&self, c: &str, u: &UserId) -> HostResult<Option<Member>> {
        self.pubnub.get_member(c, u).await
    }
    async fn set_members(&self, c: &str, m: &[(UserId, JsonObject)]) -> HostResult<()> {
        self.pubnub.set_members(c, m).await
    }
    async fn remove_members(&self, c: &str, u: &[UserId]) -> HostResult<()> {
        self.pubnub.remove_members(c, u).await
    }
    async fn add_channels(&self, g: &str, c: &[String]) -> HostResult<()> {
        self.pubnub.add_channels(g, c).await
    }
    async fn remove_channels(&self, g: &str, c: &[String]) -> HostResult<()> {
        self.pubnub.remove_channels(g, c).await
    }
    async fn list_channels(&self, g: &str) -> HostResult<Vec<String>> {
        self.pubnub.list_channels(g).await
    }
}

impl KvStore for JsHost {
    async fn get<T: FromJson>(&self, k: &str) -> HostResult<Option<T>> {
        self.kv.get(k).await
    }
    async fn set<T: Serialize>(&self, k: &str, v: &T, t: u32) -> HostResult<()> {
        self.kv.set(k, v, t).await
    }
    async fn remove(&self, k: &str) -> HostResult<()> {
        self.kv.remove(k).await
    }
    async fn incr_counter(&self, k: &str, b: i64) -> HostResult<i64> {
        self.kv.incr_counter(k, b).await
    }
    async fn get_counter(&self, k: &str) -> HostResult<i64> {
        self.kv.get_counter(k).await
    }
}
