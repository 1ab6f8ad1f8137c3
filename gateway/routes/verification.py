"""HTTP routes of the steps the verification service owns."""
from flask import Blueprint

bp = Blueprint("verification", __name__)
OPERATIONS = ()
