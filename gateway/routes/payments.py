"""HTTP routes of the steps the payments service owns."""
from flask import Blueprint

bp = Blueprint("payments", __name__)
OPERATIONS = ()
