"""HTTP routes of the steps the decision service owns."""
from flask import Blueprint

bp = Blueprint("decision", __name__)
OPERATIONS = ()
