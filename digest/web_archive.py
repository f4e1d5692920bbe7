"""The public archive of sent editions: a list with headlines, a page per edition and an Atom
feed, as routes on an APIRouter (`digest.web` mounts it). Nothing personal, so cacheable.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from digest import atom
from digest.store import sent_edition, sent_editions
from digest.web_site import PUBLIC, SiteDep

ARCHIVE_HEADLINES = 3  # top headlines shown per edition in the archive list
ARCHIVE_PAGE = 30  # editions per page of the archive list, newest first
FEED_ENTRIES = 30  # editions in the Atom feed, newest first

router = APIRouter()


@router.get("/editions", response_class=HTMLResponse)
def archive(request: Request, site: SiteDep, page: str = "1") -> HTMLResponse:
    number = int(page) if page.isdecimal() and 0 < len(page) < 7 else 0
    # One more than a page tells whether older editions follow.
    found = sent_editions(site.engine, limit=ARCHIVE_PAGE + 1, skip=(number - 1) * ARCHIVE_PAGE) if number else []
    if number != 1 and not found:
        return site.page(request, "message.html", 404, heading="No such page of the archive",
                         text="The archive's first page lists the latest editions.")
    editions = [(e, site.dated(e)) for e in found[:ARCHIVE_PAGE]]
    return site.public_page(request, "archive.html", editions=editions, headlines=ARCHIVE_HEADLINES,
                            newer=number - 1 if number > 1 else None,
                            older=number + 1 if len(found) > ARCHIVE_PAGE else None)


@router.get("/editions.atom")
def feed(site: SiteDep) -> Response:
    editions = sent_editions(site.engine, limit=FEED_ENTRIES)
    body = atom.editions_feed(editions, title=site.config.edition.title, feed_url=site.absolute("/editions.atom"),
                              archive_url=site.absolute("/editions"),
                              page_url=lambda e: site.absolute(f"/editions/{e.id}"), dated=site.dated)
    return Response(body, media_type=atom.MEDIA_TYPE, headers={"Cache-Control": PUBLIC})


@router.get("/editions/{edition_id}")
def edition(request: Request, site: SiteDep, edition_id: str) -> Response:
    found = sent_edition(site.engine, edition_id)
    if found is None:
        return site.page(request, "message.html", 404, heading="No such edition",
                         text="See the archive for the editions we have.")
    if not found.sections:  # stored before editions kept their stories: only the email is left
        return FileResponse(found.html_path, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": PUBLIC})
    return site.public_page(request, "edition.html", edition=found, dated=site.dated(found))
