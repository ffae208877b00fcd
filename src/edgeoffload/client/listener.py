"""The client's ears: what node links and the controller's table report, as owner events.

Links and the table follower call a listener; this one translates each call into an
:mod:`.ownership` event and feeds it to the client. It keeps the listener methods
(``link_up``, ``on_result``, ...) off the client's public surface: callers never call
them, and the owner's rules never see a link.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..protocol.control import EventKind, NodeState, NodeView
from ..protocol.messages import Error, Result, Submit
from . import ownership as own
from .link import NodeLink

log = logging.getLogger("edgeoffload.client")


class LinkEvents:
    """A :class:`~.link.LinkListener` and :class:`~.table.TableListener` that turns
    what it hears into owner events for ``feed``.

    Args:
        feed: the client's way into its owner (the events' instructions are executed
            before it returns).
        by_node: the client's links by node id, kept up to date here (a link names
            its node in its Welcome, so only ``link_up`` knows it).
        links: the client's links by URL, to find a table row's link.
        add_node: starts a link to a URL the controller's table lists.
    """

    def __init__(
        self,
        feed: Callable[[own.Event], None],
        by_node: dict[str, NodeLink],
        links: dict[str, NodeLink],
        add_node: Callable[[str], NodeLink],
    ) -> None:
        self._feed = feed
        self._by_node = by_node
        self._links = links
        self._add_node = add_node

    def link_up(self, link: NodeLink) -> None:
        log.info(
            "connected to node %s (%s)", link.node_id, link.url, extra={"node_id": link.node_id}
        )
        self._by_node[link.node_id] = link
        self._feed(
            own.NodeUp(
                link.node_id, link.tasks, link.labels, link.workers, link.url, link.cache_bytes
            )
        )

    def link_failed(self, link: NodeLink, reason: str, unauthorized: bool) -> None:
        """An attempt to reach a node failed. A token refusal everywhere (no link up,
        each tried at least once and refused our token) cannot pass by waiting."""
        log.info("node %s unreachable: %s", link.url, reason, extra={"node_id": link.node_id})
        links = self._links.values()
        everywhere = unauthorized and all(
            not other.connected and other.tried and other.unauthorized for other in links
        )
        self._feed(own.NodeUnreachable(link.url, reason, everywhere))

    def link_down(self, link: NodeLink, reason: str) -> None:
        self._feed(own.NodeDown(link.node_id, reason, stimulus_id=f"down-{link.node_id}"))

    def on_result(self, link: NodeLink, result: Result) -> None:
        self._feed(own.ResultReceived(link.node_id, result))

    def on_results(self, link: NodeLink, items: list[Result | Error]) -> None:
        self._feed(own.ResultsReceived(link.node_id, items))

    def on_error(self, link: NodeLink, error: Error) -> None:
        self._feed(own.ErrorReceived(link.node_id, error))

    def on_unsendable(self, link: NodeLink, submit: Submit, exc: Exception) -> None:
        self._feed(own.Unsendable(link.node_id, submit.id, exc))

    def on_draining(self, link: NodeLink) -> None:
        log.info("node %s is draining", link.node_id, extra={"node_id": link.node_id})
        self._feed(own.NodeDraining(link.node_id))

    def on_resumed(self, link: NodeLink) -> None:
        log.info("node %s takes work again", link.node_id, extra={"node_id": link.node_id})
        self._feed(own.NodeResumed(link.node_id))

    def on_status(self, link: NodeLink) -> None:
        self._feed(own.NodeLoad(link.node_id, link.rtt_s, link.queued, link.running, link.workers))

    def table_unreachable(self, url: str, reason: str | None) -> None:
        """The controller could not be reached (why), or answers again (None): kept,
        like a node's reason, to name in the failure of a task no node took."""
        key = f"controller {url}"
        self._feed(own.NodeUnreachable(key, reason) if reason else own.Reached(key))

    def table_node(self, view: NodeView, event: EventKind | None) -> None:
        """A row of the controller's table changed: join it, note its state, or fence it."""
        link = self._links.get(view.url)
        # A node that left (a graceful stop) is gone like a dead one: not joined, and
        # fenced if linked (its drain answered what it held before it said goodbye).
        dead = view.state in (NodeState.DEAD, NodeState.LEFT)
        if dead and link is None:
            return
        if link is None:
            link = self._add_node(view.url)
        link.view = view
        back = event is EventKind.RECOVERED or event is EventKind.RESUMED
        alive = view.state is NodeState.ALIVE
        self._feed(
            own.NodeListed(view.node_id, alive, view.draining, view.labels, view.speed_hz, back)
        )
        if dead:
            link.fence(f"declared {view.state} by the controller")


__all__ = ["LinkEvents"]
