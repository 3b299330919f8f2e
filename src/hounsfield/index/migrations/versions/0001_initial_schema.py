"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('patient_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('study_instance_uid', sa.String(length=64), server_default='', nullable=False),
    sa.Column('series_instance_uid', sa.String(length=64), server_default='', nullable=False),
    sa.Column('sop_instance_uid', sa.String(length=64), server_default='', nullable=False),
    sa.Column('origin', sa.String(length=128), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_created', ['created_at'], unique=False)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('issuer_of_patient_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('patient_name', sa.String(length=324), server_default='', nullable=False),
    sa.Column('patient_name_search', sa.String(length=324), server_default='', nullable=False),
    sa.Column('patient_birth_date', sa.String(length=8), server_default='', nullable=False),
    sa.Column('patient_sex', sa.String(length=16), server_default='', nullable=False),
    sa.Column('num_studies', sa.Integer(), server_default='0', nullable=False),
    sa.Column('num_series', sa.Integer(), server_default='0', nullable=False),
    sa.Column('num_instances', sa.Integer(), server_default='0', nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ix_patients_identity', ['patient_id', 'issuer_of_patient_id'], unique=True)
        batch_op.create_index('ix_patients_name', ['patient_name_search'], unique=False)

    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_pk', sa.Integer(), nullable=False),
    sa.Column('study_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('issuer_of_patient_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('patient_name', sa.String(length=324), server_default='', nullable=False),
    sa.Column('patient_name_search', sa.String(length=324), server_default='', nullable=False),
    sa.Column('patient_birth_date', sa.String(length=8), server_default='', nullable=False),
    sa.Column('patient_sex', sa.String(length=16), server_default='', nullable=False),
    sa.Column('study_date', sa.String(length=8), server_default='', nullable=False),
    sa.Column('study_time', sa.String(length=16), server_default='', nullable=False),
    sa.Column('accession_number', sa.String(length=16), server_default='', nullable=False),
    sa.Column('study_id', sa.String(length=16), server_default='', nullable=False),
    sa.Column('study_description', sa.String(length=64), server_default='', nullable=False),
    sa.Column('referring_physician_name', sa.String(length=324), server_default='', nullable=False),
    sa.Column('referring_physician_name_search', sa.String(length=324), server_default='', nullable=False),
    sa.Column('institution_name', sa.String(length=64), server_default='', nullable=False),
    sa.Column('timezone_offset_from_utc', sa.String(length=16), server_default='', nullable=False),
    sa.Column('specific_character_set', sa.String(length=128), server_default='', nullable=False),
    sa.Column('modalities_in_study', sa.String(length=256), server_default='', nullable=False),
    sa.Column('sop_classes_in_study', sa.Text(), server_default='', nullable=False),
    sa.Column('num_series', sa.Integer(), server_default='0', nullable=False),
    sa.Column('num_instances', sa.Integer(), server_default='0', nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_pk'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.create_index('ix_studies_accession', ['accession_number'], unique=False)
        batch_op.create_index('ix_studies_date', ['study_date'], unique=False)
        batch_op.create_index('ix_studies_patient', ['patient_pk'], unique=False)
        batch_op.create_index('ix_studies_patient_id', ['patient_id'], unique=False)
        batch_op.create_index('ix_studies_patient_name', ['patient_name_search'], unique=False)
        batch_op.create_index('ix_studies_uid', ['study_instance_uid'], unique=True)
        batch_op.create_index('ix_studies_updated', ['updated_at'], unique=False)

    op.create_table('series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('series_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('modality', sa.String(length=16), server_default='', nullable=False),
    sa.Column('series_number', sa.Integer(), nullable=True),
    sa.Column('series_description', sa.String(length=64), server_default='', nullable=False),
    sa.Column('series_date', sa.String(length=8), server_default='', nullable=False),
    sa.Column('series_time', sa.String(length=16), server_default='', nullable=False),
    sa.Column('body_part_examined', sa.String(length=16), server_default='', nullable=False),
    sa.Column('station_name', sa.String(length=16), server_default='', nullable=False),
    sa.Column('institution_name', sa.String(length=64), server_default='', nullable=False),
    sa.Column('performed_procedure_step_start_date', sa.String(length=8), server_default='', nullable=False),
    sa.Column('performed_procedure_step_start_time', sa.String(length=16), server_default='', nullable=False),
    sa.Column('source_ae_title', sa.String(length=16), server_default='', nullable=False),
    sa.Column('num_instances', sa.Integer(), server_default='0', nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.create_index('ix_series_modality', ['modality'], unique=False)
        batch_op.create_index('ix_series_study', ['study_pk'], unique=False)
        batch_op.create_index('ix_series_uid', ['series_instance_uid'], unique=True)

    op.create_table('instances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('series_pk', sa.Integer(), nullable=False),
    sa.Column('sop_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('sop_class_uid', sa.String(length=64), nullable=False),
    sa.Column('instance_number', sa.Integer(), nullable=True),
    sa.Column('transfer_syntax_uid', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('columns', sa.Integer(), nullable=True),
    sa.Column('bits_allocated', sa.Integer(), nullable=True),
    sa.Column('number_of_frames', sa.Integer(), nullable=True),
    sa.Column('content_date', sa.String(length=8), server_default='', nullable=False),
    sa.Column('content_time', sa.String(length=16), server_default='', nullable=False),
    sa.Column('blob_key', sa.String(length=512), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('pixel_data_offset', sa.BigInteger(), server_default='-1', nullable=False),
    sa.Column('pixel_data_length', sa.BigInteger(), server_default='-1', nullable=False),
    sa.Column('metadata', sa.LargeBinary(), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('source_ae_title', sa.String(length=16), server_default='', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['series_pk'], ['series.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_blob', ['blob_key'], unique=False)
        batch_op.create_index('ix_instances_series', ['series_pk', 'instance_number'], unique=False)
        batch_op.create_index('ix_instances_uid', ['sop_instance_uid'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_uid')
        batch_op.drop_index('ix_instances_series')
        batch_op.drop_index('ix_instances_blob')

    op.drop_table('instances')
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.drop_index('ix_series_uid')
        batch_op.drop_index('ix_series_study')
        batch_op.drop_index('ix_series_modality')

    op.drop_table('series')
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_index('ix_studies_updated')
        batch_op.drop_index('ix_studies_uid')
        batch_op.drop_index('ix_studies_patient_name')
        batch_op.drop_index('ix_studies_patient_id')
        batch_op.drop_index('ix_studies_patient')
        batch_op.drop_index('ix_studies_date')
        batch_op.drop_index('ix_studies_accession')

    op.drop_table('studies')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ix_patients_name')
        batch_op.drop_index('ix_patients_identity')

    op.drop_table('patients')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_created')

    op.drop_table('events')
