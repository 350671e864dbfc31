SELECT SET_CONFIG('search_path', {{ bind("search_path") }}, TRUE) AS search_path;
