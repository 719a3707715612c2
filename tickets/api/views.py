from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import SearchFilter
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import IsTenantMember, IsTenantStaff
from config.api.pagination import OnePassPagination
from config.errors import NotFound, ValidationFailed
from crm.models import Tag
from tickets import events, inbound, presence, selectors, services
from tickets.api import serializers as s
from tickets.api.filters import TicketFilter, TicketListFilter
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, Ticket


def _role(request) -> str:
    return request.membership.role


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(fields={field: [message]})


class MessageCursorPagination(CursorPagination):
    """Newest first by default (the inbox scrolls back); `?order=asc` reads from the start."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        if request.query_params.get("order") == "asc":
            return ("sent_at", "id")
        return ("-sent_at", "-id")


class TicketPagination(OnePassPagination):
    def one_pass_when(self, request) -> bool:
        """A search (contacts and message texts), and any list of an agent: what an agent sees is
        three conditions OR-ed (selectors.ticket_visibility_q), which PostgreSQL answers with a bitmap of
        scattered tickets for the count and again for the page; once, their tabs took 20–45% less
        (bench-inbox: tag vip 40 → 23 ms p50). Whoever sees every ticket walks the index instead:
        materializing 60k tickets to count them would cost more — but for a tag's tickets, read
        by id (TicketListFilter.filter_tag)."""
        if _role(request) not in selectors.STAFF_ROLES:
            return True
        return any(request.query_params.get(name, "").strip() for name in ("q", "tag"))

    # Set by the view for a common search over every ticket (TicketSearch.page_ids_and_count).
    common_search: selectors.TicketSearch | None = None

    def page_ids_and_count(self, queryset, *, offset, limit):
        if self.common_search is None:
            return super().page_ids_and_count(queryset, offset=offset, limit=limit)
        return self.common_search.page_ids_and_count(ordering=queryset.query.order_by, offset=offset, limit=limit)

    def rows_by_id(self, ids, view):
        return selectors.tickets_by_ids(ids)


class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tickets the caller may see (agents: their queues' pending tickets, unqueued pending tickets and
    their own; admins and supervisors: all), newest activity first."""

    queryset = Ticket.objects.none()  # the model, for the schema and the isolation sweep
    serializer_class = s.TicketSerializer
    pagination_class = TicketPagination
    filter_backends = [DjangoFilterBackend]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    @property
    def filterset_class(self):
        # The list's search is a union (TicketListFilter); a ticket's own routes filter it further.
        return TicketListFilter if self.action == "list" else TicketFilter

    def get_queryset(self):
        return selectors.ticket_list_for_user(user=self.request.user, role=_role(self.request))

    def _search_over_every_ticket(self) -> selectors.TicketSearch | None:
        """The search, when it is the list's only filter and the caller sees every ticket. (Text the
        filter refuses, such as a NUL character, goes through the filter for its 400.)"""
        params = self.request.query_params
        text = params.get("q", "").strip()
        others = any(params.get(name, "").strip() for name in TicketFilter.base_filters if name != "q")
        if not text or "\x00" in text or others or _role(self.request) not in selectors.STAFF_ROLES:
            return None
        self.request.ticket_search = selectors.TicketSearch(text)  # the list filter's too
        return self.request.ticket_search

    def list(self, request, *args, **kwargs):
        search = self._search_over_every_ticket()
        if search is not None and search.words_are_common():
            # Counted from the matching ids and walked newest first in one statement
            # (tickets.selectors.TicketSearch.page_ids_and_count).
            self.paginator.common_search = search
            queryset = self.get_queryset().filter(search.q())  # (what pagination by DRF's own would read)
        else:
            queryset = self.filter_queryset(self.get_queryset())
        # The page is rendered by the real-time payloads' compiled TicketSerializer (the same dicts,
        # pinned by whatsapp/tests/test_inbound_fast_paths.py), about twice as fast as DRF's walk.
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([events.ticket_data(ticket) for ticket in page])

    def _respond(self, ticket):
        return Response(s.TicketSerializer(ticket).data)

    def _body(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=s.TicketPrioritySerializer, responses=s.TicketSerializer)
    def partial_update(self, request, pk=None):
        ticket = self.get_object()
        data = self._body(s.TicketPrioritySerializer)
        return self._respond(services.ticket_set_priority(ticket=ticket, actor=request.user, **data))

    @extend_schema(request=None, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        # An open ticket someone else took is no longer in the agent's list: say 409, not 404.
        queryset = Ticket.objects.filter(status=Ticket.Status.OPEN) | self.get_queryset()
        ticket = queryset.filter(pk=pk).first() if str(pk).isdigit() else None
        if ticket is None:
            raise NotFound()
        return self._respond(services.ticket_accept(ticket=ticket, actor=request.user))

    @extend_schema(request=s.TicketTransferSerializer, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        ticket = self.get_object()
        data = self._body(s.TicketTransferSerializer)
        to_queue = None
        if data.get("to_queue") is not None:
            to_queue = Queue.objects.filter(pk=data["to_queue"]).first()
            if to_queue is None:
                raise _field_error("to_queue", "No such queue.")
        to_user = None
        if data.get("to_user") is not None:
            to_user = User.objects.filter(pk=data["to_user"]).first()
            if to_user is None:
                raise _field_error("to_user", "No such member.")
        ticket = services.ticket_transfer(
            ticket=ticket, actor=request.user, to_user=to_user, to_queue=to_queue, note=data["note"]
        )
        return self._respond(ticket)

    @extend_schema(request=s.TicketCloseSerializer, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        ticket = self.get_object()
        data = self._body(s.TicketCloseSerializer)
        return self._respond(services.ticket_close(ticket=ticket, actor=request.user, **data))

    @extend_schema(request=None, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._respond(services.ticket_reopen(ticket=self.get_object(), actor=request.user))

    @extend_schema(request=None, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        return self._respond(services.ticket_mark_read(ticket=self.get_object(), actor=request.user))

    @extend_schema(request=s.TicketPrioritySerializer, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def priority(self, request, pk=None):
        return self.partial_update(request, pk=pk)

    @extend_schema(request=s.TicketTagsSerializer, responses=s.TicketSerializer)
    @action(detail=True, methods=["post"])
    def tags(self, request, pk=None):
        ticket = self.get_object()
        data = self._body(s.TicketTagsSerializer)
        wanted = set(data["add"]) | set(data["remove"])
        tags = {tag.pk: tag for tag in Tag.objects.filter(pk__in=wanted)}
        if missing := sorted(wanted - tags.keys()):
            raise _field_error("add", f"No such tag: {', '.join(map(str, missing))}.")
        ticket = services.ticket_set_tags(
            ticket=ticket,
            actor=request.user,
            add=[tags[pk] for pk in data["add"]],
            remove=[tags[pk] for pk in data["remove"]],
        )
        return self._respond(ticket)

    @extend_schema(
        methods=["GET"],
        parameters=[OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"])],
        responses=s.MessageSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        request={"application/json": s.MessageCreateSerializer, "multipart/form-data": s.MessageCreateSerializer},
        responses={201: s.MessageSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[JSONParser, MultiPartParser, FormParser],
        pagination_class=MessageCursorPagination,
        serializer_class=s.MessageSerializer,
        filter_backends=[],
    )
    def messages(self, request, pk=None):
        ticket = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.message_list_for_ticket(ticket=ticket))
            return self.get_paginated_response(s.MessageSerializer(page, many=True).data)
        data = self._body(s.MessageCreateSerializer)
        quick_reply = reply_to = None
        if data.get("quick_reply") is not None:
            quick_reply = QuickReply.objects.filter(pk=data["quick_reply"]).first()
            if quick_reply is None:
                raise _field_error("quick_reply", "No such quick reply.")
        if data.get("reply_to") is not None:
            reply_to = Message.objects.filter(pk=data["reply_to"], ticket=ticket).first()
            if reply_to is None:
                raise _field_error("reply_to", "No such message on this ticket.")
        message = services.message_send(
            ticket=ticket,
            author=request.user,
            text=data["text"],
            media=data.get("file"),
            media_url=data["media_url"],
            quick_reply=quick_reply,
            reply_to=reply_to,
            template=data.get("template"),
            internal_note=data["internal_note"],
        )
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.MessageSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>\d+)/retry-media",
        url_name="message-retry-media",
    )
    def retry_media(self, request, pk=None, message_id=None):
        """Download a message's media again after it failed (409 `media_not_failed` otherwise)."""
        ticket = self.get_object()
        message = Message.objects.filter(pk=message_id, ticket=ticket).first()
        if message is None:
            raise NotFound()
        return Response(s.MessageSerializer(inbound.message_media_retry(message=message)).data)


class QueueViewSet(viewsets.ModelViewSet):
    """Queues of the workspace. Every member reads them; admins and supervisors manage them."""

    queryset = Queue.objects.none()
    serializer_class = s.QueueSerializer
    filter_backends = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.queue_list()

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        return [IsTenantStaff()]

    def perform_create(self, serializer):
        members = serializer.validated_data.pop("members", None)
        serializer.instance = services.queue_save(queue=Queue(**serializer.validated_data), members=members)

    def perform_update(self, serializer):
        members = serializer.validated_data.pop("members", None)
        queue = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(queue, name, value)
        services.queue_save(queue=queue, members=members)

    def perform_destroy(self, instance):
        services.queue_delete(queue=instance)


class QuickReplyViewSet(viewsets.ModelViewSet):
    """Canned answers (`/shortcut`). Every member reads them; admins and supervisors manage them."""

    queryset = QuickReply.objects.none()
    serializer_class = s.QuickReplySerializer
    filter_backends = [SearchFilter]
    search_fields = ["shortcut", "text"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.quick_reply_list()

    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [IsTenantMember()]
        return [IsTenantStaff()]

    def perform_create(self, serializer):
        serializer.instance = services.quick_reply_save(quick_reply=QuickReply(**serializer.validated_data))

    def perform_update(self, serializer):
        quick_reply = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(quick_reply, name, value)
        services.quick_reply_save(quick_reply=quick_reply)

    def perform_destroy(self, instance):
        services.quick_reply_delete(quick_reply=instance)


class ScheduledMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Messages to send later on a ticket the caller may act on; cancellable while scheduled."""

    queryset = ScheduledMessage.objects.none()
    serializer_class = s.ScheduledMessageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["status", "ticket"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.scheduled_message_list_for_user(user=self.request.user, role=_role(self.request))

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            ticket = selectors.ticket_get_for_user(ticket_id=data["ticket_id"], user=request.user, role=_role(request))
        except NotFound:
            raise _field_error("ticket", "No such ticket.") from None
        scheduled = services.scheduled_message_create(
            ticket=ticket, author=request.user, text=data["text"], send_at=data["send_at"]
        )
        return Response(s.ScheduledMessageSerializer(scheduled).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ScheduledMessageSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        scheduled = services.scheduled_message_cancel(scheduled=self.get_object(), actor=request.user)
        return Response(s.ScheduledMessageSerializer(scheduled).data)


class PresenceView(APIView):
    """Who of the tenant is online, away or offline (connected to the inbox's live stream and not
    away). POST sets the caller's own status: `away` keeps them out of auto-assignment."""

    permission_classes = [IsTenantMember]

    @extend_schema(responses=s.PresenceSerializer(many=True))
    def get(self, request):
        return Response(s.PresenceSerializer(selectors.member_presence_list(), many=True).data)

    @extend_schema(request=s.PresenceSetSerializer, responses=s.PresenceSerializer)
    def post(self, request):
        serializer = s.PresenceSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant_id = request.membership.tenant_id
        presence.status_set(tenant_id=tenant_id, user_id=request.user.pk, status=serializer.validated_data["status"])
        status_now = presence.presence_announce(tenant_id=tenant_id, user_id=request.user.pk)
        user = request.user
        return Response(
            s.PresenceSerializer(
                {
                    "user_id": user.pk,
                    "name": user.name,
                    "email": user.email,
                    "role": request.membership.role,
                    "status": status_now,
                }
            ).data
        )
