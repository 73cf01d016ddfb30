"""The HTML report: the data it shows (``data``), the page (``html``) and its CSS and script (``assets``)."""
