"""The dashboard's Guide tab: the project's documents shown in the page.

The teacher's guide, the lesson plan, the model description (ODD) and the notebooks'
index are rendered here, in Python (no CDN, no KaTeX). Links between them stay inside
the Guide: a link to a shown document or heading switches the document and scrolls to
the heading, without leaving the page (so the browser's Back never restarts a run); a
link to another site opens in a new tab; a link to a file not shown becomes its text
and repository path.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from pathlib import Path

import ipyvuetify
import markdown
import solara
import traitlets
from markdown.extensions.toc import TocExtension
from markdown.treeprocessors import Treeprocessor

from sim.app import widgets
from sim.app.classroom import REPO


@dataclass(frozen=True)
class Document:
    """A document the Guide shows: its button's title and its file."""

    title: str
    path: Path


DOCUMENTS = {
    "guide": Document("Teacher's guide", REPO / "docs" / "TEACHERS_GUIDE.md"),
    "lesson": Document("Lesson plan (45 minutes)", REPO / "docs" / "LESSON_PLAN.md"),
    "odd": Document("Model description (ODD)", REPO / "docs" / "ODD.md"),
    "notebooks": Document("Notebooks", REPO / "notebooks" / "README.md"),
}
ANCHOR_PREFIX = "mv-"  # the documents' heading ids, apart from the page's own


def heading_id(text: str, _separator: str = "-") -> str:
    """A heading's id as GitHub makes it (what the documents' links use), prefixed."""
    return ANCHOR_PREFIX + re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


class DocumentLinks(Treeprocessor):
    """Links of a shown document, kept inside the Guide: a link to a shown document (or
    to a heading) names it in ``data-doc``/``data-anchor`` for the page to follow; a link
    to another site opens in a new tab; a link to a file not shown becomes its text and
    path; an image becomes its description and path."""

    def __init__(self, md, source: Path):
        super().__init__(md)
        self.source = source
        self.shown = {doc.path.resolve(): key for key, doc in DOCUMENTS.items()}

    def run(self, root: etree.Element) -> None:
        for el in root.iter():
            if el.tag == "a":
                self.link(el)
            elif el.tag == "img":
                self.plain(el, el.get("alt", "figure"), el.get("src", ""))

    def link(self, el: etree.Element) -> None:
        href = el.get("href", "")
        if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.IGNORECASE):
            el.set("target", "_blank")
            el.set("rel", "noopener noreferrer")
            return
        file, _, anchor = href.partition("#")
        target = (self.source.parent / file).resolve() if file else self.source.resolve()
        if target not in self.shown:
            self.plain(el, "".join(el.itertext()), file)
            return
        anchor = heading_id(anchor) if anchor else ""
        el.set("href", f"#{anchor}")
        el.set("data-doc", self.shown[target])
        el.set("data-anchor", anchor)

    def plain(self, el: etree.Element, text: str, file: str) -> None:
        """``el`` as plain text, with the repository path of ``file`` if it adds one."""
        path = (self.source.parent / file).resolve()
        where = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else file
        el.clear()
        el.tag = "span"
        el.set("class", "mv-file")
        el.text = text if where in text else f"{text} ({where})"


class _LinksExtension(markdown.Extension):
    def __init__(self, source: Path):
        super().__init__()
        self.source = source

    def extendMarkdown(self, md):  # noqa: N802 (markdown's name)
        md.treeprocessors.register(DocumentLinks(md, self.source), "mv_links", 1)


@functools.lru_cache(maxsize=8)
def _document_html(path: Path, _mtime: int) -> str:
    extensions = ["tables", "fenced_code", "sane_lists", TocExtension(slugify=heading_id)]
    text = path.read_text(encoding="utf-8")
    return markdown.markdown(text, extensions=[*extensions, _LinksExtension(path)])


def document_html(doc: Document) -> str:
    """A document as HTML, its links kept inside the Guide (see :class:`DocumentLinks`)."""
    return _document_html(doc.path, doc.path.stat().st_mtime_ns)


class DocumentView(ipyvuetify.VuetifyTemplate):
    """A document's HTML in the page. A click on a link to a shown document does not
    leave the page: it comes back as ``link`` (``{"doc", "anchor", "at"}``). Setting
    ``scroll_to`` (``"<heading id>@<anything new>"``) scrolls to that heading, or to the
    document's top for an empty id; ``""`` leaves the scroll alone."""

    template = traitlets.Unicode(
        """
<template>
  <div class="mv-prose mv-document" v-html="html" @click="follow"></div>
</template>
<script>
module.exports = {
  watch: {
    html() { this.$nextTick(this.scroll); },
    scroll_to() { this.$nextTick(this.scroll); },  // (both may arrive: scroll once done)
  },
  methods: {
    follow(event) {
      const a = event.target.closest("a[data-doc]");
      if (!a) return;
      event.preventDefault();
      this.link = {doc: a.dataset.doc, anchor: a.dataset.anchor, at: Date.now()};
    },
    scroll() {
      if (!this.scroll_to) return;
      const id = this.scroll_to.split("@")[0];
      const heading = id ? this.$el.querySelector('[id="' + id + '"]') : null;
      (heading || this.$el).scrollIntoView({block: "start"});
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({preventScroll: true});
      }
    },
  },
};
</script>
"""
    ).tag(sync=True)
    html = traitlets.Unicode("").tag(sync=True)
    scroll_to = traitlets.Unicode("").tag(sync=True)
    link = traitlets.Dict({}).tag(sync=True)


@solara.component
def GuideView():
    """The teacher's guide, the lesson plan, the ODD and the notebooks' index; their links
    to each other open here."""
    key, set_key = solara.use_state("guide")
    scroll_to, set_scroll_to = solara.use_state("")
    doc = DOCUMENTS[key]

    def follow(link: dict) -> None:
        """A link the reader followed: its document, scrolled to its heading."""
        if link.get("doc") in DOCUMENTS:
            set_key(link["doc"])
            set_scroll_to(f"{link.get('anchor', '')}@{link.get('at', '')}")

    def open_document(title: str) -> None:
        """A document chosen with its button: shown where the reader is."""
        if title in titles:
            set_key(titles[title])
            set_scroll_to("")

    titles = {d.title: k for k, d in DOCUMENTS.items()}
    widgets.Prose(
        "The teacher's guide, the lesson plan, the model description and the notebooks' "
        f"index, from the repository ({REPO}). Links between them open here."
    )
    solara.ToggleButtonsSingle(value=doc.title, values=list(titles), on_value=open_document)
    html = solara.use_memo(lambda: document_html(doc) if doc.path.exists() else None, [key])
    if html is None:
        solara.Warning(f"{doc.path} is not there (an install without the repository's docs).")
    else:
        DocumentView.element(html=html, scroll_to=scroll_to, on_link=follow)
