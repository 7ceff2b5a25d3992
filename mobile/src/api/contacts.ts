// Typed operations of 联系人管理 (graph/contacts.graphql): the viewer's
// contacts (searchable, by group, in Relay pages) and their groups. Types are
// written by hand to match the selections below.
import { client, operation } from './client'
import type { PageInfo } from './flows'

export type ContactSource = 'manual' | 'auto'

export interface ContactGroup {
  id: string
  name: string
  contactCount: number
}

export interface Contact {
  id: string
  name: string
  phone: string
  email: string | null
  enterpriseName: string | null
  source: ContactSource
  groups: { id: string; name: string }[] | null
}

export interface ContactInput {
  name: string
  phone: string
  email?: string | null
  enterpriseName?: string | null
  /** Replaces the contact's groups; leave out to keep them. */
  groupIDs?: string[]
}

export interface ContactPage {
  totalCount: number
  pageInfo: PageInfo
  contacts: Contact[]
}

export interface ContactQuery {
  search?: string | null
  groupID?: string | null
  first?: number | null
  after?: string | null
}

const CONTACT = 'id name phone email enterpriseName source groups { id name }'
const GROUP = 'id name contactCount'

export const ContactsQuery = operation<
  { contacts: { totalCount: number; pageInfo: PageInfo; edges: ({ node: Contact | null } | null)[] | null } },
  { search: string | null; groupID: string | null; first: number | null; after: string | null }
>(
  'Contacts',
  `query Contacts($search: String, $groupID: ID, $first: Int, $after: Cursor) {
  contacts(search: $search, groupID: $groupID, first: $first, after: $after, orderBy: { field: NAME }) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { ${CONTACT} } }
  }
}`,
)

/** The groups, and how many contacts there are in all (a page of none). */
export const ContactGroupsQuery = operation<{ contactGroups: ContactGroup[]; contacts: { totalCount: number } }>(
  'ContactGroups',
  `query ContactGroups { contactGroups { ${GROUP} } contacts(first: 0) { totalCount } }`,
)

export const CreateContactMutation = operation<{ createContact: Contact }, { input: ContactInput }>(
  'CreateContact',
  `mutation CreateContact($input: ContactInput!) { createContact(input: $input) { ${CONTACT} } }`,
)

export const UpdateContactMutation = operation<{ updateContact: Contact }, { id: string; input: ContactInput }>(
  'UpdateContact',
  `mutation UpdateContact($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input) { ${CONTACT} } }`,
)

export const DeleteContactsMutation = operation<{ deleteContacts: boolean }, { ids: string[] }>(
  'DeleteContacts',
  'mutation DeleteContacts($ids: [ID!]!) { deleteContacts(ids: $ids) }',
)

export const CreateContactGroupMutation = operation<{ createContactGroup: ContactGroup }, { name: string }>(
  'CreateContactGroup',
  `mutation CreateContactGroup($name: String!) { createContactGroup(name: $name) { ${GROUP} } }`,
)

export const RenameContactGroupMutation = operation<{ renameContactGroup: ContactGroup }, { id: string; name: string }>(
  'RenameContactGroup',
  `mutation RenameContactGroup($id: ID!, $name: String!) { renameContactGroup(id: $id, name: $name) { ${GROUP} } }`,
)

export const DeleteContactGroupMutation = operation<{ deleteContactGroup: boolean }, { id: string }>(
  'DeleteContactGroup',
  'mutation DeleteContactGroup($id: ID!) { deleteContactGroup(id: $id) }',
)

export const AddContactsToGroupMutation = operation<{ addContactsToGroup: ContactGroup }, { groupID: string; contactIDs: string[] }>(
  'AddContactsToGroup',
  `mutation AddContactsToGroup($groupID: ID!, $contactIDs: [ID!]!) { addContactsToGroup(groupID: $groupID, contactIDs: $contactIDs) { ${GROUP} } }`,
)

export const RemoveContactsFromGroupMutation = operation<
  { removeContactsFromGroup: ContactGroup },
  { groupID: string; contactIDs: string[] }
>(
  'RemoveContactsFromGroup',
  `mutation RemoveContactsFromGroup($groupID: ID!, $contactIDs: [ID!]!) { removeContactsFromGroup(groupID: $groupID, contactIDs: $contactIDs) { ${GROUP} } }`,
)

export const contactsApi = {
  async list(q: ContactQuery): Promise<ContactPage> {
    const d = await client.request(ContactsQuery, {
      search: q.search?.trim() || null,
      groupID: q.groupID || null,
      first: q.first ?? 10,
      after: q.after ?? null,
    })
    const c = d.contacts
    return {
      totalCount: c.totalCount,
      pageInfo: c.pageInfo,
      contacts: (c.edges ?? []).flatMap((e) => (e?.node ? [e.node] : [])),
    }
  },
  groups: () => client.request(ContactGroupsQuery).then((d) => ({ groups: d.contactGroups, total: d.contacts.totalCount })),
  create: (input: ContactInput) => client.request(CreateContactMutation, { input }).then((d) => d.createContact),
  update: (id: string, input: ContactInput) => client.request(UpdateContactMutation, { id, input }).then((d) => d.updateContact),
  remove: (ids: string[]) => client.request(DeleteContactsMutation, { ids }),
  createGroup: (name: string) => client.request(CreateContactGroupMutation, { name }).then((d) => d.createContactGroup),
  renameGroup: (id: string, name: string) => client.request(RenameContactGroupMutation, { id, name }).then((d) => d.renameContactGroup),
  removeGroup: (id: string) => client.request(DeleteContactGroupMutation, { id }),
  addToGroup: (groupID: string, contactIDs: string[]) =>
    client.request(AddContactsToGroupMutation, { groupID, contactIDs }).then((d) => d.addContactsToGroup),
  removeFromGroup: (groupID: string, contactIDs: string[]) =>
    client.request(RemoveContactsFromGroupMutation, { groupID, contactIDs }).then((d) => d.removeContactsFromGroup),
}
