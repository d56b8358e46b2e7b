"""The class rules a level lets the player change, as typed fields and as YAML text.  No pygame.

Theory of operation
-------------------
A :class:`ConfigEditor` holds the current resources of a round (plain dicts in
Istio's shapes, as a level file writes them) and the level they belong to.

* **Fields.**  :meth:`ConfigEditor.fields` walks the resources of the kinds in
  ``level.editable`` and lists one :class:`Field` per setting a player tunes:
  a PeerAuthentication's mTLS mode; a VirtualService's matches (paths and
  header values), timeout, retries, fault shares, route subsets and weights;
  a DestinationRule's outlier detection, retry budget and circuit breaker; an
  AuthorizationPolicy's selector, action and rule principals/hosts; an
  IdentityPolicy's card lifetime, renewal and CA rotation.  A field is a view
  of one path in one resource: reading it changes nothing, and everything a
  field does not show (subsets, metadata, other keys) is kept as it is.  Where
  the level has no resource yet for an editable kind (level 4 adds a
  DestinationRule), a *virtual* group offers its fields and the resource is
  created the first time one of them is set.
* **Setting.**  :meth:`ConfigEditor.set` converts the value to the field's
  type, writes it into a copy of the resources (``None`` removes the key and
  any mapping it leaves empty), and checks the copy with the level's own
  checker, :func:`classroom.level.validate_resources`.  Only a valid copy is
  adopted; otherwise :class:`ConfigError` says why and the last valid
  resources stay in force.  Two weighted routes stay at 100 together: setting
  one sets the other to the rest.
* **YAML.**  :meth:`ConfigEditor.yaml_text` writes the editable resources as
  multi-document YAML (kinds and apiVersions as the level file has them);
  :meth:`ConfigEditor.parse_yaml` reads such text back with the level
  loader (:func:`classroom.level.load_config`, so errors carry the line of the
  text) and checks names against the level's students and services.  Resources
  of kinds the level does not let the player edit are not in the text and
  cannot be added to it.  The text's resources then replace the editable ones
  with :func:`classroom.level.merge_editable`, the merge ``--config`` uses: in
  place, so every resource keeps its position; new ones come at the end.

The editor is split in three modules: this one (the editor), the form's
fields per kind of resource (:mod:`classroom.game.model.configfields`), and
the YAML text and resource paths (:mod:`classroom.game.model.configtext`).
What callers use is importable from here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from classroom.game.model.configfields import (
    CHOICE,
    DURATION,
    INT,
    KINDS,
    NAMES,
    NUMBER,
    TEXT,
    TOGGLE,
    Field,
    Form,
    Slot,
    convert,
    is_bare,
    resource_name,
)
from classroom.game.model.configtext import (
    ConfigError,
    Resource,
    comment,
    load_text,
    plain,
    put_path,
    to_yaml,
)
from classroom.level import Level, LevelError, line_of, merge_editable, validate_resources

__all__ = [
    "CHOICE", "DURATION", "INT", "KINDS", "NAMES", "NUMBER", "TEXT", "TOGGLE",
    "ConfigEditor", "ConfigError", "Field", "Resource", "plain", "to_yaml",
]

_WHERE = re.compile(r"^resources\[\d+\][\w.\[\]]*")  # where the level checker says a fault is


class ConfigEditor:
    """The player's view of a level's editable resources; see the module docstring."""

    def __init__(self, level: Level, resources: Sequence[Resource] | None = None) -> None:
        self.level = level
        start = level.resources if resources is None else resources
        self._resources: list[Resource] = plain(list(start))
        names = [s.name for s in level.students]
        self.hosts: tuple[str, ...] = tuple(sorted({*names, *(s.app for s in level.students)}))
        self._born = {(r.get("kind"), resource_name(r)) for r in self._resources}

    # ----------------------------------------------------------------- reading

    @property
    def editable(self) -> tuple[str, ...]:
        return self.level.editable

    def resources(self) -> tuple[Resource, ...]:
        """Every resource of the round as it stands (a copy: plain dicts, safe to keep)."""
        return tuple(copy.deepcopy(self._resources))

    def fields(self) -> list[Field]:
        """The form, in order: each editable resource's fields, grouped by resource."""
        return [slot.field for slot in self._slots()]

    def field(self, key: str) -> Field:
        for slot in self._slots():
            if slot.field.key == key:
                return slot.field
        raise KeyError(key)

    def yaml_text(self) -> str:
        """The editable resources as the YAML text the player may edit."""
        mine = [r for r in self._resources if r.get("kind") in self.editable]
        header = f"editable: {', '.join(self.editable)}"
        return to_yaml(mine, header) if mine else f"{comment(header)}[]\n"

    # ----------------------------------------------------------------- writing

    def set(self, key: str, value: Any) -> None:
        """Set one field; raises :class:`ConfigError` (with ``key``) and changes nothing when invalid."""
        slot = next((s for s in self._slots() if s.field.key == key), None)
        if slot is None:
            raise ConfigError(0, f"no setting {key!r} in this level's form", key)
        converted = convert(slot.field, value)
        candidate = copy.deepcopy(self._resources)
        index = slot.index
        if index is None:
            if converted is None or converted is False:
                return
            candidate.append(copy.deepcopy(slot.template or {}))
            index = len(candidate) - 1
        if slot.write is not None:
            slot.write(candidate, index, converted)
        else:
            put_path(candidate[index], slot.path, converted, slot.floor)
        resource = candidate[index]
        if (resource.get("kind"), resource_name(resource)) not in self._born and is_bare(resource):
            del candidate[index]  # a resource the form created, with nothing left in it
        try:
            validate_resources(candidate, "form", students=self.hosts)
        except LevelError as exc:  # "resources[1].spec.http[0].retries.retryOn: ..." -> "retry on: ..."
            raise ConfigError(0, _WHERE.sub(slot.field.label, exc.message, count=1), key) from None
        self._resources = candidate

    def parse_yaml(self, text: str) -> tuple[Resource, ...]:
        """Every resource of the round with ``text`` as its editable part; :class:`ConfigError` if invalid.

        Changes nothing: :meth:`apply_yaml` adopts the result.
        """
        mine = load_text(text)
        for resource in mine:
            kind = resource.get("kind")
            if kind not in self.editable:
                raise ConfigError(
                    line_of(resource, "kind", line_of(resource)),
                    f"a {kind} cannot be changed in this level: you may change "
                    f"{' and '.join(self.editable) or 'nothing'}",
                )
        try:  # the loader checked the shapes; this checks the names against the level's class
            validate_resources(mine, "text", students=self.hosts)
        except LevelError as exc:
            raise ConfigError(exc.line, exc.message) from None
        if not self.editable:  # nothing is the player's: the text was empty, everything stays
            return self.resources()
        return tuple(plain(list(merge_editable(self.level, self._resources, mine, "text"))))

    def apply_yaml(self, text: str) -> None:
        """Adopt the resources ``text`` describes; on :class:`ConfigError` the last valid ones stay."""
        self._resources = list(self.parse_yaml(text))

    # ----------------------------------------------------------------- the form's fields

    def _slots(self) -> list[Slot]:
        return Form(self.level, self.hosts, self._resources).slots()
