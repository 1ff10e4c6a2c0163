"""Files in: read the corpus folder's files (text, Markdown, HTML, JSON) into Articles, split them into
Passages for the reader's window, and change the folder (add, delete, restore, with a trash and an audit
log) for every front-end."""
