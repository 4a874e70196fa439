"""PubNub's own Python SDK (pinned in scripts/setup) against the local runtime.

Each test is one call a new user would make, checked against what PubNub answers: where the docs
are silent, the replies recorded in the SDK's own repository (tests/integrational/fixtures).
Run: .venv/bin/python -m unittest discover -s tests/python -v
"""

import os
import subprocess
import threading
import unittest
import warnings

from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNStatusCategory
from pubnub.exceptions import PubNubException
from pubnub.models.consumer.objects_v2.memberships import PNChannelMembership
from pubnub.models.consumer.v3.channel import Channel
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub import PubNub

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECRET, PUB, SUB = "sec-c-python", "pub-c-python", "sub-c-python"


def setUpModule():
    global RUNTIME, ORIGIN
    # include_total_count / include_channel are the SDK's "legacy" spellings, still what its
    # docs show; their warnings are noise here (set here: unittest resets filters before running).
    warnings.simplefilter("ignore", DeprecationWarning)
    RUNTIME = subprocess.Popen(
        [os.path.join(ROOT, "scripts/local-pubnub"), "--port", "0", "--secret-key", SECRET, "--publish-key", PUB, "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = RUNTIME.stdout.readline().strip()
    if not url.startswith("http://"):
        RUNTIME.kill()
        raise RuntimeError(f"local-pubnub did not start: {url!r}")
    ORIGIN = url[len("http://"):]


def tearDownModule():
    RUNTIME.terminate()
    RUNTIME.wait(10)
    RUNTIME.stdout.close()


def client(user_id, secret_key=SECRET):
    config = PNConfiguration()
    config.subscribe_key, config.publish_key, config.user_id = SUB, PUB, user_id
    config.origin, config.ssl = ORIGIN, False
    if secret_key:
        config.secret_key = secret_key
    return PubNub(config)


class SignedRequests(unittest.TestCase):
    def test_post_publish_signed_with_the_secret_key(self):
        # The SDK signs POST publish with the first signature scheme (utils.sign_request).
        result = client("py-server").publish().channel("py-post").message({"n": 1}).use_post(True).sync().result
        self.assertGreater(result.timetoken, 0)

    def test_get_publish_signed_with_the_secret_key(self):
        result = client("py-server").publish().channel("py-get").message({"n": 2}).sync().result
        self.assertGreater(result.timetoken, 0)

    def test_a_wrong_secret_key_is_refused(self):
        for post in (True, False):
            with self.assertRaises(PubNubException) as refused:
                client("py-server", "sec-c-wrong").publish().channel("py-post").message("x").use_post(post).sync()
            self.assertEqual(refused.exception.get_status_code(), 403)


class Subscribe(unittest.TestCase):
    def test_subscribe_with_presence_receives_its_join_and_a_message(self):
        connected, joined, received = threading.Event(), threading.Event(), []
        message = threading.Event()

        class Listener(SubscribeCallback):
            def status(self, pubnub, status):
                if status.category == PNStatusCategory.PNConnectedCategory:
                    connected.set()

            def presence(self, pubnub, event):
                if event.event == "join" and event.uuid == "py-sub":
                    joined.set()

            def message(self, pubnub, event):
                received.append((event.channel, event.message, event.publisher))
                message.set()

        # Access Manager is on: the subscriber signs with the secret key, as a server would.
        sub = client("py-sub")
        sub.add_listener(Listener())
        sub.subscribe().channels(["py-room-live"]).with_presence().execute()
        try:
            self.assertTrue(connected.wait(10), "connected")
            self.assertTrue(joined.wait(10), "its own join on py-room-live-pnpres")
            client("py-pub").publish().channel("py-room-live").message({"hi": 1}).sync()
            self.assertTrue(message.wait(10), "the message")
            self.assertEqual(received, [("py-room-live", {"hi": 1}, "py-pub")])
            here = client("py-server").here_now().channels(["py-room-live"]).sync().result
            self.assertEqual([o.uuid for o in here.channels[0].occupants], ["py-sub"])
        finally:
            sub.unsubscribe_all()
            sub.stop()


class PresenceState(unittest.TestCase):
    def test_state_of_several_channels(self):
        pn = client("py-alice")
        pn.set_state().channels(["py-st-1", "py-st-2"]).state({"mood": "ok"}).sync()
        both = pn.get_state().channels(["py-st-1", "py-st-2"]).uuid("py-alice").sync().result
        self.assertEqual(both.channels, {"py-st-1": {"mood": "ok"}, "py-st-2": {"mood": "ok"}})
        one = pn.get_state().channels(["py-st-1"]).uuid("py-alice").sync().result
        self.assertEqual(one.channels, {"py-st-1": {"mood": "ok"}})


class AppContext(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pn = cls.pn = client("py-server")
        for uid in ("py-u1", "py-u2", "py-u3"):
            pn.set_uuid_metadata().uuid(uid).set_name(uid.upper()).sync()
        pn.set_channel_metadata().channel("py-room").set_name("Room").description("d").custom({"topic": "x"}).sync()
        pn.set_memberships().uuid("py-u1").channel_memberships([PNChannelMembership.channel("py-room")]).sync()

    def test_total_count(self):
        listed = self.pn.get_all_uuid_metadata().include_total_count(True).filter("id LIKE 'py-u*'").sync().result
        self.assertEqual(listed.total_count, 3)
        self.assertEqual(len(listed.data), 3)

    def test_memberships_with_the_channel_and_its_custom(self):
        # include_channel(CHANNEL_WITH_CUSTOM) sends only `include=channel.custom`; PubNub returns
        # the whole channel object with its custom.
        data = self.pn.get_memberships().uuid("py-u1").include_channel(2).sync().result.data
        self.assertEqual(len(data), 1)
        channel = data[0]["channel"]
        self.assertEqual(channel["id"], "py-room")
        self.assertEqual(channel["name"], "Room")
        self.assertEqual(channel["description"], "d")
        self.assertEqual(channel["custom"], {"topic": "x"})
        self.assertIn("eTag", channel)


class AccessManager(unittest.TestCase):
    def test_grant_parse_and_use_a_token(self):
        server = client("py-server")
        token = (
            server.grant_token().ttl(15).authorized_uuid("py-user").channels([Channel.id("py-granted").read().write()]).sync().result.token
        )
        parsed = server.parse_token(token)
        self.assertEqual(parsed["authorized_uuid"], "py-user")
        self.assertEqual(parsed["ttl"], 15)
        self.assertTrue(parsed["resources"]["channels"]["py-granted"]["write"])
        self.assertFalse(parsed["resources"]["channels"]["py-granted"]["manage"])

        user = client("py-user", secret_key=None)
        user.set_token(token)
        self.assertGreater(user.publish().channel("py-granted").message("hi").sync().result.timetoken, 0)
        with self.assertRaises(PubNubException) as refused:
            user.publish().channel("py-not-granted").message("hi").sync()
        self.assertEqual(refused.exception.get_status_code(), 403)


if __name__ == "__main__":
    unittest.main()
