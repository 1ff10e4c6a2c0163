"""Follow the news: feeds (RSS, Atom) and single pages fetched from the web into the corpus folder, each page
read as saved pages are and indexed (qa.feeds.fetch: the guarded HTTP client; qa.feeds.follow: the feed
list, its updates and their status)."""
