"""HTTP routes of the steps the publicity service owns."""
from flask import Blueprint

bp = Blueprint("publicity", __name__)
OPERATIONS = ()
