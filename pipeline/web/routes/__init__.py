"""The service's route table: every page group's ``PAGES``, in one list the application and the tests share."""

from pipeline.web.routes import audit, cases, docking, gaps, recordings, requests, session

ALL_PAGES = [*session.PAGES, *docking.PAGES, *recordings.PAGES, *gaps.PAGES, *cases.PAGES, *requests.PAGES,
             *audit.PAGES]
